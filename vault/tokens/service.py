"""API tokens: issued once, stored only as a SHA-256, revocable, optionally expiring, limited
to scopes (which routes) and optionally to some models (which the chat routes may use)."""
import datetime as dt
import hashlib
import json
import secrets

from .. import audit
from ..db import ApiToken, LLMModel, User, as_datetime, database, iso, utcnow
from ..errors import BadRequest, NotFound, VaultError
from ..validate import FieldError

PREFIX = "psv_"
TOUCH_EVERY = dt.timedelta(minutes=1)
# chat: the chat routes and what a chat client reads; manage: those and every other /api/* route
# and page but the session-only ones (vault/auth/bearer.py says which route needs which).
SCOPES = {"chat": {"chat"}, "manage": {"chat", "manage"}}
DEFAULT_SCOPES = ("chat",)
MAX_MODELS, MAX_MODEL_NAME = 50, 100


class ModelNotAllowed(VaultError):
    code, status = "model_not_allowed", 403


def digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


def issue(user, name, expires_in_days=None, scopes=DEFAULT_SCOPES, models=None, confirm=None):
    """Returns (row, token); the token is never stored and cannot be shown again. `models`:
    names of the user's models, or None for every model. `confirm` (the password check) runs
    once the input is valid and before anything is written, so a bad request costs no hash."""
    name, scopes, models = checked(user, name, scopes, models)
    if confirm is not None:
        confirm()
    token = PREFIX + secrets.token_urlsafe(32)
    expires = utcnow() + dt.timedelta(days=expires_in_days) if expires_in_days else None
    with database.atomic():
        row = ApiToken.create(user=user, name=name, token_hash=digest(token), prefix=token[:12],
                              expires_at=expires, scopes=" ".join(scopes),
                              models=None if models is None else json.dumps(models))
        audit.record(user, "token.create", f"token:{row.prefix}")
    return row, token


def checked(user, name, scopes, models):
    """(name, scopes, models) as stored, or the 400 that names the field that is wrong."""
    name = (name or "").strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise BadRequest("A token needs a name of 1 to 100 printable characters.")
    return name, checked_scopes(scopes), checked_models(user, models)


def checked_scopes(scopes):
    if not isinstance(scopes, (list, tuple)) or not scopes:
        raise FieldError("scopes", "'scopes' must be a list of one or more of: chat, manage.", "invalid_scopes")
    for scope in scopes:
        if not isinstance(scope, str) or scope not in SCOPES:
            shown = f" {scope[:40]!r}" if isinstance(scope, str) else ""
            raise FieldError("scopes", f"Unknown scope{shown} in 'scopes': use chat, manage or both.",
                             "invalid_scopes")
    return [s for s in SCOPES if s in scopes]  # one order, each once


def checked_models(user, models):
    if models is None:
        return None
    if not isinstance(models, (list, tuple)) or not all(isinstance(m, str) for m in models):
        raise FieldError("models", "'models' must be a list of model names, or null for every model.",
                         "invalid_models")
    if len(models) > MAX_MODELS:
        raise FieldError("models", f"'models' may name at most {MAX_MODELS} models.", "invalid_models")
    if any(len(m) > MAX_MODEL_NAME for m in models):
        raise FieldError("models", f"A name in 'models' is longer than {MAX_MODEL_NAME} characters.",
                         "invalid_models")
    names = list(dict.fromkeys(models))  # [] is allowed: a token that may chat with no model
    plausible = [n for n in names if n.isprintable()]  # model names are; PostgreSQL refuses NUL
    known = {m.name for m in LLMModel.visible_to(user).select(LLMModel.name)
             .where(LLMModel.name.in_(plausible))} if plausible else set()
    unknown = next((n for n in names if n not in known), None)
    if unknown is not None:
        raise FieldError("models", f"'models' names {unknown!r}, which is none of your models.", "unknown_model")
    return names


def revoke(user, token_id):
    if not 0 < token_id < 2**63:  # SQLite cannot even bind a larger one
        raise NotFound()
    with database.atomic():
        row = ApiToken.get_owned_or_404(user, ApiToken.id == token_id)
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            row.save()
            audit.record(user, "token.revoke", f"token:{row.prefix}")
    return row


def listed(user):
    return list(ApiToken.owned_by(user).order_by(ApiToken.created_at.desc(), ApiToken.id.desc()))


def model_names(user):
    """The names a token may be limited to: the user's models, then the shared catalog's."""
    rows = LLMModel.visible_to(user).select(LLMModel.name).order_by(LLMModel.user.is_null(), LLMModel.name)
    return list(dict.fromkeys(m.name for m in rows))


# Runs on every Bearer request: one statement written once, not rebuilt by the ORM each time.
_LOOKUP = ("SELECT t.id, t.prefix, t.expires_at, t.last_used_at, t.scopes, t.models, u.id, u.email "
           'FROM api_token t JOIN "user" u ON u.id = t.user_id WHERE t.token_hash = {p} AND t.revoked_at IS NULL')
_TOUCH = "UPDATE api_token SET last_used_at = {p} WHERE id = {p}"


def authenticate(token):
    """The live Token (with its user), or None when it is unknown, revoked or expired."""
    found = database.execute_sql(_LOOKUP.format(p=database.param), (digest(token),)).fetchone()
    if found is None:
        return None
    token_id, prefix, expires, used, scopes, models, user_id, email = found
    now = utcnow()
    if expires is not None and as_datetime(expires) <= now:
        return None
    if used is None or now - as_datetime(used) >= TOUCH_EVERY:
        database.execute_sql(_TOUCH.format(p=database.param), (now, token_id))
    return Token(token_id, prefix, scopes, models, user_id, email)


class Token:
    """A live token as a request sees it: what scopes and model lists are checked against, and
    its user. Not an ApiToken row: building one (its defaults included) costs more than the lookup."""
    __slots__ = ("id", "prefix", "scopes", "models", "user_id", "email", "_user")

    def __init__(self, token_id, prefix, scopes, models, user_id, email):
        self.id, self.prefix, self.scopes, self.models = token_id, prefix, scopes, models
        self.user_id, self.email, self._user = user_id, email, None

    @property
    def user(self):
        if self._user is None:
            self._user = User(id=self.user_id, email=self.email)
        return self._user


def scopes_of(row):
    return (row.scopes or "").split()


def models_of(row):
    """The model names the token may use, or None for every model."""
    return None if row.models is None else json.loads(row.models)


def allows(row, scope):
    """Whether the token's scopes grant `scope` (manage includes what chat allows)."""
    return any(scope in SCOPES.get(s, ()) for s in scopes_of(row))


def check_model(row, name):
    """Before any upstream call: a token limited to some models may use only those."""
    allowed = models_of(row)
    if allowed is not None and name not in allowed:
        raise ModelNotAllowed(f"This token may not use the model {name!r}: its owner limited it to "
                              "other models (see the Tokens page).")


def as_json(row):
    return {"id": row.id, "name": row.name, "prefix": row.prefix, "created_at": iso(row.created_at),
            "last_used_at": iso(row.last_used_at), "revoked_at": iso(row.revoked_at),
            "expires_at": iso(row.expires_at), "scopes": scopes_of(row), "models": models_of(row)}
