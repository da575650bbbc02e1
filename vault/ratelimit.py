"""Limits on password guessing (RATELIMIT_LOGIN) and sign-ups (RATELIMIT_REGISTER), per client
address and, for passwords, per account, counted where every worker and instance sees the same
number: the audit table, or Redis when RATELIMIT_STORAGE_URI names it."""
import datetime as dt
import functools
import hashlib
import hmac
import ipaddress
import time
from dataclasses import dataclass

import limits
from flask import current_app, g, has_app_context, request
from flask_login import current_user
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

from .db import AuditEvent, utcnow

# The ledger's action per setting: one row per attempt that counts (README, Security model).
ACTIONS = {"RATELIMIT_LOGIN": "limit.login", "RATELIMIT_REGISTER": "limit.register"}


def guarded(setting, counts, methods=("POST",), account=None):
    """Limit a view's writes by the named setting, per client address and per account
    (`account()`, by default the signed-in user's; None: per address only). Only the attempts
    `counts` picks use the allowance up, and a refused one runs nothing. With password_refused,
    an attempt is a request that sends a field whose name holds "password" (a key rotation by
    API token sends none, and is neither limited nor counted)."""
    account = account or signed_in_account

    def decorate(view):
        @functools.wraps(view)
        def limited(*args, **kwargs):
            if request.method not in methods or (counts is password_refused and not sends_password()):
                return view(*args, **kwargs)
            settle = _state().counter.begin(setting, client_address(), account())
            try:
                response = current_app.make_response(view(*args, **kwargs))
            except Exception:
                settle(counts(None))
                raise
            settle(counts(response))
            return response
        return limited
    return decorate


def password_refused(response):
    """A refused password (passwords.verify marks it), not a form mistake made with the right one."""
    return g.get("password_refused", False)


def sends_password():
    """Whether the form or JSON body has a field named like a password with something in it: an
    empty one is no guess (the add-key form always carries its field, filled only when needed)."""
    try:
        body = request.get_json(silent=True) if request.is_json else None
    except RecursionError:  # too deep to read: the view refuses it, and it counts until then
        return True
    fields = list(request.form.items()) + (list(body.items()) if isinstance(body, dict) else [])
    return any("password" in str(name) and value not in ("", None) for name, value in fields)


def attempted(response):
    """Every attempt counts, a successful one too."""
    return True


def account_key(email):
    """An account's name in the ledger and in Redis: a keyed hash of the email, the same whether
    or not an account has it, so a lock says nothing about who is registered."""
    normal = (email or "").strip().lower()
    if not normal:
        return None
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return "account:" + hmac.new(secret, b"account|" + normal.encode(), hashlib.sha256).hexdigest()[:32]


def nobody():
    return None


def signed_in_account():
    return account_key(current_user.email) if current_user.is_authenticated else None


def posted_email():
    """The sign-in form's account: the email typed, registered or not, read as Flask-WTF reads
    the form (a JSON body too), or JSON guesses would skip the account's limit."""
    data = request.form if request.form else request.get_json(silent=True)
    email = data.get("email") if isinstance(data, dict) else None  # a MultiDict is a dict
    return account_key(email if isinstance(email, str) else None)


# --- where the client is --------------------------------------------------------------------

def client_address():
    """The peer's address; behind a proxy named in VAULT_TRUSTED_PROXIES, the rightmost entry
    of X-Forwarded-For that none of them wrote (entries further left are the client's to forge)."""
    remote = request.remote_addr or ""
    proxies = _state().proxies if has_app_context() and _STATE in current_app.extensions else ()
    if not proxies or not _trusted(remote, proxies):
        return remote
    hops = [hop.strip() for line in request.headers.getlist("X-Forwarded-For") for hop in line.split(",")]
    hops = [hop for hop in hops if hop]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return _canonical(hop)
    return _canonical(hops[0]) if hops else remote  # every hop is a proxy: the first is nearest


def parse_proxies(value):
    """"127.0.0.1, 10.0.0.0/8" as networks; a ValueError names the entry that is neither."""
    networks = []
    for entry in filter(None, (part.strip() for part in (value or "").split(","))):
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"VAULT_TRUSTED_PROXIES: {entry[:60]!r} is not an address or network "
                             "(use e.g. 127.0.0.1,10.0.0.0/8)") from None
    return tuple(networks)


def _address(text):
    """An address from a header entry: "1.2.3.4", "1.2.3.4:5678", "[2001:db8::1]:443"; or None."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    return ip.ipv4_mapped or ip if ip.version == 6 else ip


def _trusted(text, proxies):
    ip = _address(text)
    return ip is not None and any(ip in network for network in proxies)


def _canonical(text):
    ip = _address(text)
    return str(ip) if ip is not None else text[:64]


# --- counting ---------------------------------------------------------------------------------

def _too_many(seconds):
    return TooManyRequests(retry_after=max(1, int(seconds) + 1))


class _Ledger:
    """Counts in the audit table, which every worker and instance shares. An attempt's row is
    written before the view runs, so parallel guesses see each other instead of all passing
    the check at once, and deleted again when the attempt does not count (a right password)."""

    def begin(self, setting, address, account):
        row = AuditEvent.create(action=ACTIONS[setting], subject=account or "address", outcome="counted",
                                ip=address[:64], detail=request.endpoint)
        mine = AuditEvent.id == row.id
        now = utcnow()
        for item in limits.parse_many(current_app.config[setting]):
            since = now - dt.timedelta(seconds=item.get_expiry())
            recent = AuditEvent.select(AuditEvent.at).where(
                AuditEvent.at >= since, AuditEvent.action == ACTIONS[setting], ~mine)
            same = [AuditEvent.ip == row.ip] + ([AuditEvent.subject == account] if account else [])
            for others in (recent.where(where) for where in same):
                over = others.count() - item.amount
                if over >= 0:  # this would be attempt amount + 1: wait until over + 1 age out
                    AuditEvent.delete().where(mine).execute()
                    freed = others.order_by(AuditEvent.at, AuditEvent.id).offset(over).first()
                    raise _too_many((freed.at - since).total_seconds() if freed else item.get_expiry())

        def settle(counted):
            if not counted:
                AuditEvent.delete().where(mine).execute()
        return settle


class _Storage:
    """Counts in a `limits` storage, e.g. Redis: checked before the view, used up
    after it when the attempt counts."""

    def __init__(self, uri):
        self.window = MovingWindowRateLimiter(storage_from_string(uri))

    def begin(self, setting, address, account):
        items = limits.parse_many(current_app.config[setting])
        keys = [("address", address)] + ([("account", account)] if account else [])
        for item in items:
            for key in keys:
                if not self.window.test(item, setting, *key):
                    reset = self.window.get_window_stats(item, setting, *key).reset_time
                    raise _too_many(reset - time.time())

        def settle(counted):
            for item in items if counted else ():
                for key in keys:
                    self.window.hit(item, setting, *key)
        return settle


@dataclass(frozen=True)
class _Config:
    counter: object
    proxies: tuple


_STATE = "vault.ratelimit"


def _state():
    return current_app.extensions[_STATE]


def init_app(app):
    """The app's counter (the database unless RATELIMIT_STORAGE_URI names a shared store; a
    per-process memory:// store would let each worker allow its own five) and trusted proxies.
    A bad VAULT_TRUSTED_PROXIES is a ValueError naming it, which create_app reports."""
    proxies = parse_proxies(app.config.get("VAULT_TRUSTED_PROXIES"))
    uri = app.config.get("RATELIMIT_STORAGE_URI") or "memory://"
    counter = _Ledger() if uri.startswith("memory://") else _Storage(uri)
    app.extensions[_STATE] = _Config(counter, proxies)
