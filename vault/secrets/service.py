"""Provider secrets of one user, or of one team: the one service behind the /secrets page, the
team page, /api/secrets and /api/teams/<id>/secrets, so they never disagree. Validation,
versioned writes, expiry, health checks and the audit trail.

Every function takes whose keys it acts on: a User (their own secrets) or a Keys (a team's, and
which of its owners acts, for the audit). Who may act on a team's keys is the caller's to decide
(vault/teams/service.py)."""
import datetime as dt
from dataclasses import dataclass

import peewee as pw

from .. import audit, crypto, hosts, llm, providers, resolver
from ..db import AuditEvent, LLMModel, ProviderSecret, Team, TeamSecret, User, iso, utcnow, write_txn
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


# --- whose keys ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Keys:
    """A user's own provider secrets (team None), or a team's, acted on by `actor`."""
    actor: User
    team: Team | None = None
    writable: bool = True  # False for a team member who is not an owner: they read, never write

    @property
    def table(self):
        return TeamSecret if self.team else ProviderSecret

    def rows(self):
        if self.team:
            return TeamSecret.select().where(TeamSecret.team == self.team)
        return ProviderSecret.owned_by(self.actor)

    def models(self):
        return LLMModel.select().where(LLMModel.team == self.team) if self.team else LLMModel.owned_by(self.actor)

    def owner(self):
        return {"team": self.team} if self.team else {"user": self.actor}

    def aad(self, provider):
        return TeamSecret.aad_for(self.team.id, provider) if self.team else ProviderSecret.aad_for(self.actor.id, provider)

    def subject(self, provider):
        return f"team:{self.team.id}:{subject(provider)}" if self.team else subject(provider)

    def record(self, action, provider, **fields):
        return audit.record(self.actor, action, self.subject(provider), **fields)

    @property
    def whose(self):
        return "The team has" if self.team else "You have"


def keys_of(who):
    return who if isinstance(who, Keys) else Keys(who)


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


def listed(who):
    keys = keys_of(who)
    return list(keys.rows().order_by(keys.table.provider))


def models_using(who):
    """{provider: n} of the user's (or team's) own models that carry no key of their own."""
    query = (keys_of(who).models()
             .select(LLMModel.provider, pw.fn.COUNT(LLMModel.id).alias("n"))
             .where(LLMModel.api_key_encrypted.is_null())
             .group_by(LLMModel.provider))
    return {r.provider: r.n for r in query}


def overview(who):
    """Every provider of the registry, configured ones first, each in registry order."""
    secrets = {s.provider: s for s in listed(who)}
    using, served = models_using(who), _served(who)
    rows = [Row(p, secrets.get(p.id), using.get(p.id, 0), served.get(p.id)) for p in providers.PROVIDERS.values()]
    return sorted(rows, key=lambda r: r.secret is None)  # stable: registry order within each half


def row(who, provider):
    entry = _entry_or_404(who, provider, "secret.read")
    return Row(entry, _find(who, provider), models_using(who).get(provider, 0), _served(who).get(provider))


def _served(who):
    from ..gateway import usage
    keys = keys_of(who)
    if keys.team:
        return usage.totals(keys.team, 30, "provider", key_source="team_secret")
    return usage.totals(keys.actor, 30, "provider", key_source="provider_secret")


def get(who, provider, action="secret.read"):
    """The secret; another user's provider name looks exactly like a missing one."""
    secret = _find(who, provider) if providers.get(provider) else None
    if secret is None:
        raise _denied(who, provider, action)
    return secret


def history(who, provider):
    """A user's own trail, or the team's, whichever owner acted."""
    get(who, provider, "secret.history")
    keys = keys_of(who)
    events = AuditEvent.select() if keys.team else AuditEvent.owned_by(keys.actor)
    return list(events.where(AuditEvent.subject == keys.subject(provider))
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

def create(who, provider, api_key, expires_at=None, allowed_hosts=None):
    """A new secret at version 1; SecretExists when there is one for this provider, also when
    two requests race (the unique index decides). It may travel to `allowed_hosts`, by default
    the host of the provider's default base URL."""
    keys = keys_of(who)
    entry = known_provider(provider)
    patterns = hosts.parse(allowed_hosts) if allowed_hosts is not None else hosts.default_for(base_url_for(provider))
    if not patterns:
        raise FieldError("allowed_hosts", f"{entry.label} has no default host: say where this key may be "
                         "sent in 'allowed_hosts', such as [\"llm.example.com\"].", "allowed_hosts_required")
    fields = _key_fields(keys, provider, clean_key(api_key, KEY_ERROR))
    try:
        with write_txn():
            secret = keys.table.create(provider=provider, expires_at=expires_at,
                                       allowed_hosts=" ".join(patterns), **keys.owner(), **fields)
            keys.record("secret.create", provider, version=secret.version)
    except pw.IntegrityError:
        keys.record("secret.create", provider, outcome="exists")
        label = providers.PROVIDERS[provider].label
        where = f"/api/teams/{keys.team.id}/secrets/{provider}" if keys.team else f"/api/secrets/{provider}"
        raise SecretExists(f"{keys.whose} a provider secret for {label} already; rotate it with "
                           f"PUT {where}.") from None
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


def update(who, provider, api_key=None, expected_version=None, expires_at=UNSET):
    """Rotate the key and/or change the expiry, versioned."""
    if api_key is None and expires_at is UNSET:
        raise BadRequest("Send a new 'api_key', a new 'expires_at', or both.")
    changes = {}
    if api_key is not None:
        changes.update(_key_fields(keys_of(who), provider, clean_key(api_key, KEY_ERROR)))
        changes.update(last_checked_at=None, last_check_status=None)  # the old key's result
    if expires_at is not UNSET:
        changes["expires_at"] = expires_at
    action = "secret.rotate" if api_key is not None else "secret.update"
    return _versioned(who, provider, changes, expected_version, action)


def _versioned(who, provider, changes, expected_version, action, detail=None):
    """One UPDATE … WHERE version = ? is the compare-and-set, so two tabs cannot silently
    overwrite each other; the version grows by one."""
    keys = keys_of(who)
    table = keys.table
    changes = {**changes, table.version: table.version + 1, table.updated_at: utcnow()}  # by name: either table
    secret = updated = None
    if providers.get(provider):
        with write_txn():
            secret = _find(keys, provider)
            if secret is not None:
                query = table.update(changes).where(table.id == secret.id)
                if expected_version is not None:
                    query = query.where(table.version == expected_version)
                if query.execute():
                    updated = _find(keys, provider)
                    keys.record(action, provider, version=updated.version, detail=detail)
    if secret is None:
        raise _denied(keys, provider, action)
    if updated is None:
        keys.record(action, provider, outcome="conflict", version=secret.version)
        raise VersionConflict("secret", secret.version)
    return updated


def allow_hosts(who, provider, allowed_hosts, expected_version=None):
    """Where the key may be sent: a deliberate act (the caller has re-checked the password), its
    own audit action, and a new version like any other change."""
    patterns = hosts.parse(allowed_hosts)
    changes = {"allowed_hosts": " ".join(patterns)}
    return _versioned(who, provider, changes, expected_version, "secret.allow_hosts", detail=" ".join(patterns))


def delete(who, provider):
    keys, secret = keys_of(who), None
    if providers.get(provider):
        with write_txn():
            secret = _find(keys, provider)
            if secret is not None:
                keys.table.delete().where(keys.table.id == secret.id).execute()
                keys.record("secret.delete", provider, version=secret.version)
    if secret is None:
        raise _denied(keys, provider, "secret.delete")


def check(who, provider):
    """Calls the provider's models list with the stored key; stores and returns the outcome.
    No transaction is held while the provider answers."""
    keys = keys_of(who)
    secret = get(keys, provider, "secret.check")
    try:
        target = resolver.resolve_secret(secret)
    except resolver.HostNotAllowed as refused:
        keys.record("secret.check", provider, outcome=refused.code, version=secret.version,
                    detail=f"{resolver.source_of(secret)} → {hosts.describe(base_url_for(provider))}")
        raise
    if not target.base_url or "{" in target.base_url:  # custom, azure: only a model knows the URL
        result = {"ok": False, "code": "no_base_url",
                  "message": f"{target.label} has no default base URL; test the key from one of "
                             "your models instead."}
    else:
        result = llm.check_connection(target)
    now, status = utcnow(), status_word(result)
    table = keys.table
    with write_txn():
        # Only if the key is still the one we checked: a rotation meanwhile makes this result stale.
        (table.update(last_checked_at=now, last_check_status=status)
         .where(table.id == secret.id, table.version == secret.version).execute())
        keys.record("secret.check", provider, outcome=status, version=secret.version,
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


def _find(who, provider):
    keys = keys_of(who)
    return keys.rows().where(keys.table.provider == provider).first()


def _entry_or_404(who, provider, action):
    entry = providers.get(provider)
    if entry is None:
        raise _denied(who, provider, action)
    return entry


DENIED_EVERY = dt.timedelta(minutes=1)


def _denied(who, provider, action):
    """A 404 on a provider name: recorded on the asking user's account (names are per user, so
    this is also what an attempt on someone else's secret looks like). Once a minute per action
    and provider, and once for all unknown names together: a script that keeps asking leaves a
    row a minute, not one per request (README, Provider secrets)."""
    keys = keys_of(who)
    known = [keys.subject(p) for p in providers.PROVIDERS]
    alike = None if providers.get(provider) else AuditEvent.subject.not_in(known)
    audit.record_once(keys.actor, action, keys.subject(provider), "denied", DENIED_EVERY, alike=alike)
    label = providers.PROVIDERS[provider].label if providers.get(provider) else "such"
    return NotFound(f"{keys.whose} no {label} provider secret.")


def _key_fields(keys, provider, key):
    return {"api_key_encrypted": crypto.encrypt(key, keys.aad(provider)),
            "key_preview": crypto.preview(key), "fingerprint": crypto.fingerprint(key)}
