"""Which key a request uses (README, Models): the model's own key, else the user's provider secret
(for a team's model: the team's secret, never a member's own), else none for auth_type "none",
else a clear error. The one place that decrypts stored keys.

It runs on every chat request, so the lookup is one SQL statement written once and executed with
parameters (Peewee would spend ~170 µs building it each time), and `last_used_at` is written at
most once a minute per secret."""
import datetime as dt
import re
from dataclasses import dataclass

from . import crypto, hosts, providers
from .urls import base_url_for
from .db import LLMModel, ProviderSecret, TeamSecret, as_datetime, database, utcnow
from .errors import NotFound, VaultError

TOUCH_EVERY = dt.timedelta(minutes=1)


class MissingApiKey(VaultError):
    code, status = "missing_api_key", 400


class ExpiredApiKey(VaultError):
    code, status = "expired_api_key", 400


class AmbiguousModel(VaultError):
    code, status = "ambiguous_model", 409

    def __init__(self, name):
        super().__init__(f"More than one model named “{name[:100]}” is yours to use (from your teams or the "
                         "shared catalog), so none is chosen: use the model's id (GET /api/models).")


class HostNotAllowed(VaultError):
    code, status = "host_not_allowed", 403

    def __init__(self, provider, url, patterns, team=False):
        label = providers.PROVIDERS[provider].label
        allowed = f"it may go only to {', '.join(patterns)}" if patterns else "it may go nowhere yet"
        whose, fix = (("The team's", "a team owner can add it to the team secret's allowed hosts on the "
                       "team's page") if team else
                      ("Your", "add it to the secret's allowed hosts on the Secrets page (/secrets), with "
                       "your password"))
        where = hosts.pattern_for(url)
        cleartext = (f" Plain http would carry the key unencrypted, so a host without a port allows https "
                     f"only; naming {where} itself allows http there.") \
            if hosts.plain_http(url) and hosts.allowed_over_https(patterns, url) else ""
        super().__init__(f"{whose} {label} provider secret may not be sent to {where}: "
                         f"{allowed}.{cleartext} To allow that host, {fix}.")


@dataclass(frozen=True, slots=True)
class Target:
    """Everything an adapter needs to call a provider. `key` prints as ***."""
    provider: str
    base_url: str
    auth_type: str
    key: crypto.Plaintext | None
    key_source: str                  # model | provider_secret | team_secret | none
    upstream_model: str | None = None
    model_id: str | None = None      # our LLMModel id
    name: str | None = None

    @property
    def wire(self):
        return providers.PROVIDERS[self.provider].wire

    @property
    def label(self):
        return providers.PROVIDERS[self.provider].label


# The model, then the secret it would use: the user's for a model of theirs or the catalog's, the
# team's (s.* come from team_secret then) for a team model.
_COLUMNS = ("m.id, m.name, m.provider, m.model_id, m.base_url, m.auth_type, m.api_key_encrypted, "
            "COALESCE(s.id, t.id), COALESCE(s.api_key_encrypted, t.api_key_encrypted), "
            "COALESCE(s.expires_at, t.expires_at), COALESCE(s.last_used_at, t.last_used_at), "
            "COALESCE(s.allowed_hosts, t.allowed_hosts), m.user_id, m.team_id")
_OWNER = 12  # m.user_id's place in _COLUMNS
_SECRET = ("LEFT JOIN provider_secret s "
           "ON m.team_id IS NULL AND s.user_id = {user} AND s.provider = m.provider "
           "LEFT JOIN team_secret t ON t.team_id = m.team_id AND t.provider = m.provider")
_OWN = ("(m.user_id = {user} OR m.user_id IS NULL AND (m.team_id IS NULL "
        "OR m.team_id IN (SELECT team_id FROM membership WHERE user_id = {user})))")
_STATEMENTS = {
    "by_id": f"SELECT {_COLUMNS} FROM llm_model m {_SECRET} WHERE {_OWN} AND m.id = {{p}} "
             "ORDER BY m.user_id IS NULL LIMIT 1",
    # The user's own model first; two others of one name (two teams', a team's and the catalog's)
    # are ambiguous, so one team can never take over a name its members use elsewhere.
    "by_name": f"SELECT {_COLUMNS} FROM llm_model m {_SECRET} WHERE {_OWN} AND m.name = {{p}} "
               "ORDER BY m.user_id IS NULL LIMIT 2",
    "touch": "UPDATE provider_secret SET last_used_at = {p} WHERE id = {p} "
             "AND (last_used_at IS NULL OR last_used_at < {p})",
    "touch_team": "UPDATE team_secret SET last_used_at = {p} WHERE id = {p} "
                  "AND (last_used_at IS NULL OR last_used_at < {p})",
}
_sql = {}


def _statement(name):
    """The SQL for this database's parameter style, built once."""
    key = (name, database.param)
    if key not in _sql:
        _sql[key] = _STATEMENTS[name].format(p=database.param, user=database.param)
    return _sql[key]


def resolve(user, model_id):
    """The Target for one of the user's models (own or shared), by id."""
    uid = user.id
    return target_from(uid, database.execute_sql(_statement("by_id"), (uid, uid, uid, model_id)).fetchone())


def resolve_by_name_or_id(user, ref, allow=None):
    """For the chat endpoints' model field: a model's id (a UUID is only ever an id), or its name."""
    uid = user.id
    if looks_like_id(ref):
        return target_from(uid, database.execute_sql(_statement("by_id"), (uid, uid, uid, ref)).fetchone(), allow)
    rows = database.execute_sql(_statement("by_name"), (uid, uid, uid, ref)).fetchall()
    if len(rows) == 2 and rows[0][_OWNER] is None:  # neither is the user's own
        raise AmbiguousModel(ref)
    return target_from(uid, rows[0] if rows else None, allow)


_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def looks_like_id(ref):
    """A model id's shape, which no model's name may have (vault/models/service.py)."""
    return len(ref) == 36 and _ID.fullmatch(ref) is not None


def target_from(uid, row, allow=None):
    """The Target for a row of _COLUMNS (None: no such model), or the error that says why not.
    `allow(name)`, when given, may refuse the model before any key is opened."""
    if row is None:
        raise NotFound("No such model.")
    (model_id, name, provider, upstream, base_url, auth_type, own_blob, sid, blob, expires, used, allowed,
     owner, team) = row
    if allow is not None:
        allow(name)
    common = dict(provider=provider, base_url=base_url, auth_type=auth_type,
                  upstream_model=upstream, model_id=model_id, name=name)
    if own_blob:
        key = crypto.decrypt(own_blob, LLMModel.aad_for(owner, model_id, team), f"model {model_id}")
        return Target(key=key, key_source="model", **common)
    now = utcnow()
    expired = sid is not None and expires is not None and as_datetime(expires) <= now
    if sid is not None and not expired:
        _bound(provider, base_url, allowed, team is not None)
        _touch(sid, as_datetime(used), now, "touch" if team is None else "touch_team")
        if team is None:
            key = crypto.decrypt(blob, ProviderSecret.aad_for(uid, provider), f"{provider} provider secret")
            return Target(key=key, key_source="provider_secret", **common)
        key = crypto.decrypt(blob, TeamSecret.aad_for(team, provider), f"team {team} {provider} secret")
        return Target(key=key, key_source="team_secret", **common)
    if auth_type == "none":
        return Target(key=None, key_source="none", **common)
    raise _no_key(provider, expired)


def resolve_unsaved(user, provider, base_url, auth_type, api_key=None, upstream_model=None):
    """For "test connection" before saving: the key typed in the form, else the provider secret."""
    common = dict(provider=provider, base_url=base_url, auth_type=auth_type, upstream_model=upstream_model)
    if api_key:
        return Target(key=crypto.Plaintext(api_key), key_source="model", **common)
    secret = ProviderSecret.owned_by(user).where(ProviderSecret.provider == provider).first()
    if secret is not None and not _expired(secret):
        return Target(key=_open_secret(secret, base_url), key_source="provider_secret", **common)
    if auth_type == "none":
        return Target(key=None, key_source="none", **common)
    raise _no_key(provider, secret is not None)


def resolve_secret(secret):
    """For a provider (or team) secret's health check: its own key against the provider's default URL."""
    entry, base_url = providers.PROVIDERS[secret.provider], base_url_for(secret.provider)
    key = _open_secret(secret, base_url) if base_url and "{" not in base_url else None
    return Target(provider=secret.provider, base_url=base_url, auth_type=entry.auth_type, key=key,
                  key_source=source_of(secret))


def source_of(secret):
    return "team_secret" if isinstance(secret, TeamSecret) else "provider_secret"


def model_key_preview(model, secrets):
    """What the models page shows: which key a model will use, without decrypting anything."""
    if model.api_key_encrypted:
        return "model", model.key_preview
    secret = secrets.get((model.team_id, model.provider))
    if secret is not None and not _expired(secret):
        return source_of(secret), secret.key_preview
    if model.auth_type == "none":
        return "none", None
    return ("expired" if secret is not None else "missing"), None


def _open_secret(secret, base_url):
    """The secret's key for a call to `base_url`: refused before decrypting when the secret may
    not go there; its last_used_at moves, as a chat's does."""
    team = isinstance(secret, TeamSecret)
    _bound(secret.provider, base_url, secret.allowed_hosts, team)
    _touch(secret.id, secret.last_used_at, utcnow(), "touch_team" if team else "touch")
    return crypto.decrypt(secret.api_key_encrypted, secret.aad, f"{secret.provider} {source_of(secret)}")


def _bound(provider, base_url, allowed, team=False):
    """Every use of a provider secret passes here before its key is opened."""
    if not hosts.stored_allows(allowed or "", base_url or ""):
        raise HostNotAllowed(provider, base_url, (allowed or "").split(), team)


def _expired(secret):
    return secret.expires_at is not None and secret.expires_at <= utcnow()


def _touch(secret_id, last_used, now, statement="touch"):
    if last_used is None or now - last_used >= TOUCH_EVERY:
        database.execute_sql(_statement(statement), (now, secret_id, now - TOUCH_EVERY))


def _no_key(provider, expired):
    label = providers.PROVIDERS[provider].label if provider in providers.PROVIDERS else provider
    if expired:
        return ExpiredApiKey(f"The {label} provider secret has expired: rotate it on the Secrets page "
                             f"(/secrets) or give the model its own key.")
    return MissingApiKey(f"No API key for {label}: add a provider secret for {label} on the Secrets page "
                         f"(/secrets) or give the model its own key.")
