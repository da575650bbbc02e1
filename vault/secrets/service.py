"""Provider secrets of one user: the one service behind the /secrets page and /api/secrets, so the
two never disagree. Validation, versioned writes, expiry, health checks and the audit trail."""
import datetime as dt
from dataclasses import dataclass

import peewee as pw

from .. import audit, crypto, hosts, llm, providers, resolver
from ..db import AuditEvent, LLMModel, ProviderSecret, iso, utcnow, write_txn
from ..errors import BadRequest, Conflict, NotFound, VersionConflict
from ..urls import base_url_for
from ..validate import FieldError, clean_key

KEY_ERROR = "invalid_api_key"  # the code of every mistake in a key, whichever it is
WARN_AHEAD = dt.timedelta(days=7)
HISTORY_LIMIT = 100
UNSET = object()  # "expires_at" absent, as opposed to null (which clears it)


class SecretExists(Conflict):
    code = "secret_exists"


# --- validation: every message is a fixed sentence, never the key ---------------------------

def parse_expiry(value):
    """ISO-8601 text (a date or a date and time, any offset; no offset means UTC) → naive UTC."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise BadRequest("'expires_at' must be an ISO-8601 date or date-time, or null.", "invalid_expires_at")
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadRequest("'expires_at' must be an ISO-8601 date or date-time, or null.",
                         "invalid_expires_at") from None
    try:
        if when.tzinfo is not None:
            when = when.astimezone(dt.UTC).replace(tzinfo=None)
    except OverflowError:  # an offset that pushes it before year 1 or past 9999
        raise BadRequest("'expires_at' is out of range.", "invalid_expires_at") from None
    return when.replace(microsecond=0)


def known_provider(provider):
    """For bodies (POST /api/secrets): an unknown provider is a 400."""
    entry = providers.get(provider)
    if entry is None:
        raise BadRequest("Unknown provider; GET /api/providers lists them.", "unknown_provider")
    return entry


# --- reads ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    """One line of the secrets page: a provider, the user's secret for it (or None), and how many
    of the user's models rely on that secret."""
    provider: providers.Provider
    secret: ProviderSecret | None
    models_using: int = 0
    usage: dict | None = None  # requests and tokens this secret served over 30 days

    @property
    def id(self):
        return self.provider.id

    @property
    def expiry(self):
        return expiry_state(self.secret)

    @property
    def hint(self):
        """"OpenAI keys usually start with sk-" when the stored key does not. The preview keeps the
        key's known prefix (or none), which is enough to tell without decrypting."""
        preview, prefix = self.secret and self.secret.key_preview, self.provider.key_prefix
        if not preview or preview == "…" or not prefix or preview.startswith(prefix):
            return None
        return f"{self.provider.label} keys usually start with {prefix}"


def listed(user):
    return list(ProviderSecret.owned_by(user).order_by(ProviderSecret.provider))


def models_using(user):
    """{provider: n} of the user's own models that carry no key of their own."""
    query = (LLMModel.owned_by(user)
             .select(LLMModel.provider, pw.fn.COUNT(LLMModel.id).alias("n"))
             .where(LLMModel.api_key_encrypted.is_null())
             .group_by(LLMModel.provider))
    return {r.provider: r.n for r in query}


def overview(user):
    """Every provider of the registry, configured ones first, each in registry order."""
    secrets = {s.provider: s for s in listed(user)}
    using, served = models_using(user), _served(user)
    rows = [Row(p, secrets.get(p.id), using.get(p.id, 0), served.get(p.id)) for p in providers.PROVIDERS.values()]
    return sorted(rows, key=lambda r: r.secret is None)  # stable: registry order within each half


def row(user, provider):
    entry = _entry_or_404(user, provider, "secret.read")
    return Row(entry, _find(user, provider), models_using(user).get(provider, 0), _served(user).get(provider))


def _served(user):
    from ..gateway import usage
    return usage.totals(user, 30, "provider", key_source="provider_secret")


def get(user, provider, action="secret.read"):
    """The user's secret; another user's provider name looks exactly like a missing one."""
    secret = _find(user, provider) if providers.get(provider) else None
    if secret is None:
        raise _denied(user, provider, action)
    return secret


def history(user, provider):
    get(user, provider, "secret.history")
    return list(AuditEvent.owned_by(user)
                .where(AuditEvent.subject == subject(provider))
                .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                .limit(HISTORY_LIMIT))


def expiry_state(secret, now=None):
    """None (no expiry), "ok", "soon" (within 7 days) or "expired"."""
    if secret is None or secret.expires_at is None:
        return None
    now = now or utcnow()
    if secret.expires_at <= now:
        return "expired"
    return "soon" if secret.expires_at - now <= WARN_AHEAD else "ok"


# --- writes -----------------------------------------------------------------------------------

def create(user, provider, api_key, expires_at=None, allowed_hosts=None):
    """A new secret at version 1; SecretExists when the user has one for this provider, also when
    two requests race (the unique index decides). It may travel to `allowed_hosts`, by default
    the host of the provider's default base URL."""
    entry = known_provider(provider)
    patterns = hosts.parse(allowed_hosts) if allowed_hosts is not None else hosts.default_for(base_url_for(provider))
    if not patterns:
        raise FieldError("allowed_hosts", f"{entry.label} has no default host: say where this key may be "
                         "sent in 'allowed_hosts', such as [\"llm.example.com\"].", "allowed_hosts_required")
    fields = _key_fields(user, provider, clean_key(api_key, KEY_ERROR))
    try:
        with write_txn():
            secret = ProviderSecret.create(user=user, provider=provider, expires_at=expires_at,
                                           allowed_hosts=" ".join(patterns), **fields)
            audit.record(user, "secret.create", subject(provider), version=secret.version)
    except pw.IntegrityError:
        audit.record(user, "secret.create", subject(provider), outcome="exists")
        label = providers.PROVIDERS[provider].label
        raise SecretExists(f"You already have a provider secret for {label}; rotate it with "
                           f"PUT /api/secrets/{provider}.") from None
    return secret


def widens(provider, allowed_hosts):
    """True when a new secret would name hosts beyond its provider's own. That is choosing where
    the key may go, which takes a browser session and the password, as changing the hosts
    later does: else a token could delete a secret and add it back bound to a host of its own,
    and the owner's next rotation would send the real key there."""
    if allowed_hosts is None or providers.get(provider) is None:
        return False
    defaults = hosts.default_for(base_url_for(provider))
    return not all(hosts.covers(defaults, pattern) for pattern in hosts.parse(allowed_hosts))


def update(user, provider, api_key=None, expected_version=None, expires_at=UNSET):
    """Rotate the key and/or change the expiry, versioned."""
    if api_key is None and expires_at is UNSET:
        raise BadRequest("Send a new 'api_key', a new 'expires_at', or both.")
    changes = {}
    if api_key is not None:
        changes.update(_key_fields(user, provider, clean_key(api_key, KEY_ERROR)))
        changes.update(last_checked_at=None, last_check_status=None)  # the old key's result
    if expires_at is not UNSET:
        changes[ProviderSecret.expires_at] = expires_at
    action = "secret.rotate" if api_key is not None else "secret.update"
    return _versioned(user, provider, changes, expected_version, action)


def _versioned(user, provider, changes, expected_version, action, detail=None):
    """One UPDATE … WHERE version = ? is the compare-and-set, so two tabs cannot silently
    overwrite each other; the version grows by one."""
    changes = {**changes, ProviderSecret.version: ProviderSecret.version + 1, ProviderSecret.updated_at: utcnow()}
    secret = updated = None
    if providers.get(provider):
        with write_txn():
            secret = _find(user, provider)
            if secret is not None:
                query = ProviderSecret.update(changes).where(ProviderSecret.id == secret.id)
                if expected_version is not None:
                    query = query.where(ProviderSecret.version == expected_version)
                if query.execute():
                    updated = _find(user, provider)
                    audit.record(user, action, subject(provider), version=updated.version, detail=detail)
    if secret is None:
        raise _denied(user, provider, action)
    if updated is None:
        audit.record(user, action, subject(provider), outcome="conflict", version=secret.version)
        raise VersionConflict("secret", secret.version)
    return updated


def allow_hosts(user, provider, allowed_hosts, expected_version=None):
    """Where the key may be sent: a deliberate act (the caller has re-checked the password), its
    own audit action, and a new version like any other change."""
    patterns = hosts.parse(allowed_hosts)
    changes = {ProviderSecret.allowed_hosts: " ".join(patterns)}
    return _versioned(user, provider, changes, expected_version, "secret.allow_hosts", detail=" ".join(patterns))


def delete(user, provider):
    secret = None
    if providers.get(provider):
        with write_txn():
            secret = _find(user, provider)
            if secret is not None:
                ProviderSecret.delete().where(ProviderSecret.id == secret.id).execute()
                audit.record(user, "secret.delete", subject(provider), version=secret.version)
    if secret is None:
        raise _denied(user, provider, "secret.delete")


def check(user, provider):
    """Calls the provider's models list with the stored key; stores and returns the outcome.
    No transaction is held while the provider answers."""
    secret = get(user, provider, "secret.check")
    try:
        target = resolver.resolve_secret(secret)
    except resolver.HostNotAllowed as refused:
        audit.record(user, "secret.check", subject(provider), outcome=refused.code, version=secret.version,
                     detail=f"provider_secret → {hosts.describe(base_url_for(provider))}")
        raise
    if not target.base_url or "{" in target.base_url:  # custom, azure: only a model knows the URL
        result = {"ok": False, "code": "no_base_url",
                  "message": f"{target.label} has no default base URL; test the key from one of "
                             "your models instead."}
    else:
        result = llm.check_connection(target)
    now, status = utcnow(), status_word(result)
    with write_txn():
        # Only if the key is still the one we checked: a rotation meanwhile makes this result stale.
        (ProviderSecret.update(last_checked_at=now, last_check_status=status)
         .where(ProviderSecret.id == secret.id, ProviderSecret.version == secret.version).execute())
        audit.record(user, "secret.check", subject(provider), outcome=status, version=secret.version,
                     detail=audit.key_use(target) if target.key is not None else None)
    return {"ok": bool(result.get("ok")), "status": status, "message": result.get("message") or "",
            "checked_at": now}


def status_word(result):
    """A check's outcome as one stable word: "ok", or the error code (README, Errors) that the
    provider's answer maps to (upstream_auth when the key was refused, upstream_timeout, …)."""
    if result.get("ok"):
        return "ok"
    code = result.get("code")
    return code[:32] if isinstance(code, str) and code else "upstream_error"


# --- JSON (README, Provider secrets) ----------------------------------------------------------

def as_json(secret, using=0):
    return {"provider": secret.provider, "key_preview": secret.key_preview,
            "fingerprint": secret.fingerprint, "version": secret.version,
            "allowed_hosts": secret.allowed_hosts.split(),
            "expires_at": iso(secret.expires_at), "created_at": iso(secret.created_at),
            "updated_at": iso(secret.updated_at), "last_used_at": iso(secret.last_used_at),
            "last_check_status": secret.last_check_status, "models_using": using}


def event_json(event):
    return {"action": event.action.removeprefix("secret."), "at": iso(event.at),
            "outcome": event.outcome, "version": event.version, "detail": event.detail}


def providers_json(user):
    configured = {s.provider for s in listed(user)}
    return [{"id": p.id, "label": p.label, "default_base_url": base_url_for(p.id) or None,
             "auth_type": p.auth_type, "has_secret": p.id in configured}
            for p in providers.PROVIDERS.values()]


# --- helpers ------------------------------------------------------------------------------------

def subject(provider):
    """The audit subject. A name from a URL may hold anything (a NUL byte, a lone surrogate) that
    the database refuses; only printable ASCII is kept, so the denied attempt is still recorded."""
    if providers.get(provider):
        return f"secret:{provider}"
    return "secret:" + "".join(c if " " <= c < "\x7f" else "?" for c in str(provider)[:60])


def _find(user, provider):
    return ProviderSecret.owned_by(user).where(ProviderSecret.provider == provider).first()


def _entry_or_404(user, provider, action):
    entry = providers.get(provider)
    if entry is None:
        raise _denied(user, provider, action)
    return entry


DENIED_EVERY = dt.timedelta(minutes=1)


def _denied(user, provider, action):
    """A 404 on a provider name: recorded on the asking user's account (names are per user, so
    this is also what an attempt on someone else's secret looks like). Once a minute per action
    and provider, and once for all unknown names together: a script that keeps asking leaves a
    row a minute, not one per request (README, Provider secrets)."""
    known = [subject(p) for p in providers.PROVIDERS]
    alike = None if providers.get(provider) else AuditEvent.subject.not_in(known)
    audit.record_once(user, action, subject(provider), "denied", DENIED_EVERY, alike=alike)
    label = providers.PROVIDERS[provider].label if providers.get(provider) else "such"
    return NotFound(f"You have no {label} provider secret.")


def _key_fields(user, provider, key):
    return {"api_key_encrypted": crypto.encrypt(key, ProviderSecret.aad_for(user.id, provider)),
            "key_preview": crypto.preview(key), "fingerprint": crypto.fingerprint(key)}
