"""Models of one user, of their teams and the shared catalog they can read: validation, writes,
the key each will use, and "test connection". Used by both the pages and the JSON API. A team's
models are written by its owners only (vault/teams/service.py decides who is one)."""
import uuid

import peewee as pw
from flask import current_app

from .. import audit, crypto, hosts, llm, providers, resolver
from ..db import LLMModel, Membership, ProviderSecret, TeamSecret, database, iso, utcnow
from ..errors import NotFound, VaultError, VersionConflict
from ..teams.service import require_owner
from ..urls import BadURL, base_url_for, check_base_url
from ..validate import FieldError, checked_str, clean_key, optional_int, refuse_unknown

FIELDS = {"name", "provider", "model_id", "base_url", "auth_type", "api_key",
          "supports_streaming", "supports_tools"}
SOURCES = ("model", "provider_secret", "team_secret", "none")  # the keys a model can use
MAX_VERSION = 2**31 - 1


class ReadOnly(VaultError):
    code, status, message = "read_only", 403, "Shared catalog models are read-only."


# --- reading -----------------------------------------------------------------------------

def listed(user, team=None):
    """Own models first, then their teams', then the shared catalog, each by name; or one team's."""
    if team is not None:
        return list(LLMModel.select().where(LLMModel.team == team).order_by(LLMModel.name))
    return list(LLMModel.visible_to(user).order_by(LLMModel.user.is_null(), LLMModel.team.is_null(),
                                                    LLMModel.name))


def visible(user, model_uuid):
    if not _is_uuid(model_uuid):
        raise NotFound("No such model.")
    row = LLMModel.visible_to(user).where(LLMModel.id == model_uuid).first()
    if row is None:
        raise NotFound("No such model.")
    return row


def owned(user, model_uuid):
    """A model the user may change: their own, or a team's they own."""
    row = visible(user, model_uuid)
    if row.team_id is not None:
        require_owner(user, row.team_id, "change the team's models")
    elif row.user_id is None:
        raise ReadOnly()
    return row


def secrets_by_provider(user):
    """{(team id or None, provider): secret}: the user's own secrets and their teams' (what a
    model of theirs, of a team of theirs or of the catalog would use), without decrypting."""
    teams = Membership.select(Membership.team).where(Membership.user == user)
    own = {(None, s.provider): s for s in ProviderSecret.owned_by(user)}
    return own | {(s.team_id, s.provider): s for s in TeamSecret.select().where(TeamSecret.team.in_(teams))}


def key_status(model, secrets):
    """(source, preview) of the key the model will use: model | provider_secret | team_secret |
    none | missing | expired."""
    return resolver.model_key_preview(model, secrets)


def host_warning(model, secrets):
    """Set when the model would use a provider secret that may not be sent to its host."""
    source, _ = key_status(model, secrets)
    secret = secrets.get((model.team_id, model.provider))
    if source not in ("provider_secret", "team_secret") or hosts.allows(secret.allowed_hosts.split(), model.base_url):
        return None
    label = providers.PROVIDERS[model.provider].label
    if source == "team_secret":
        return (f"The team's {label} key may not be sent to {hosts.pattern_for(model.base_url)}: chats will "
                "be refused until a team owner adds that host to the team secret's allowed hosts.")
    return (f"Your {label} key may not be sent to "
            f"{hosts.pattern_for(model.base_url)}: chats will be refused until you add that host to the "
            "secret's allowed hosts on the Secrets page.")


def unsaved_host_warning(secrets, entry, base_url):
    """host_warning for a model not saved yet, from its provider and base URL."""
    if not base_url or "{" in base_url:
        return None
    return host_warning(LLMModel(provider=entry.id, base_url=base_url, auth_type=entry.auth_type), secrets)


def as_json(model, secrets):
    source, preview = key_status(model, secrets)
    return {"id": model.id, "name": model.name, "provider": model.provider, "model_id": model.model_id,
            "base_url": model.base_url, "auth_type": model.auth_type,
            "has_own_key": bool(model.api_key_encrypted), "key_preview": preview,
            "key_source": source if source in SOURCES else None,
            "key_status": "ok" if source in SOURCES else source, "team_id": model.team_id,
            "shared": model.user_id is None and model.team_id is None,
            "supports_streaming": model.supports_streaming,
            "supports_tools": model.supports_tools, "warning": host_warning(model, secrets),
            "version": model.version,
            "created_at": iso(model.created_at), "updated_at": iso(model.updated_at)}


# --- writing -----------------------------------------------------------------------------

def create(user, data):
    """The user's model, or with "team_id" a team's (its owners only)."""
    data = dict(data)
    team = _team_for_new(user, data.pop("team_id", None)) if "team_id" in data else None
    values = clean(data)
    model = LLMModel(id=str(uuid.uuid4()), **({"team": team} if team else {"user": user}), **values)
    _set_key(model, data.get("api_key"))
    try:
        with database.atomic():
            model.save(force_insert=True)
            audit.record(user, "model.create", subject(model))
    except pw.IntegrityError:
        raise _name_taken(values["name"], team) from None
    return model


def _team_for_new(user, team_id):
    if team_id is None:
        return None
    if isinstance(team_id, bool) or not isinstance(team_id, int):
        raise FieldError("team_id", "'team_id' must be a team's id (an integer), or null.")
    return require_owner(user, team_id, "add models to the team").team


def subject(model):
    """The audit subject: a team's models are in the team's trail."""
    return f"team:{model.team_id}:model:{model.id}" if model.team_id else f"model:{model.id}"


def update(user, model_uuid, data):
    """Writes the fields `data` names, over the version its checks read: a change landing between
    them (a key saved while a token moves the model elsewhere) makes it read and check again, so
    no check passes on a row that is gone. With `expected_version`, only over that version: two
    tabs cannot silently undo each other (409 version_conflict)."""
    data = dict(data)
    expected = optional_int(data, "expected_version", 1, MAX_VERSION)
    data.pop("expected_version", None)
    if "team_id" in data:
        raise FieldError("team_id", "A model's owner does not change: create the model again under "
                         "the team (or for yourself) and delete this one.", "owner_fixed")
    for _ in range(3):
        model = owned(user, model_uuid)
        if expected is not None and model.version != expected:
            break
        if _write_checked(user, model, data):
            return owned(user, model_uuid)
    current = owned(user, model_uuid)
    audit.record(user, "model.update", subject(current), outcome="conflict", version=current.version)
    raise VersionConflict("model", current.version)


def _write_checked(user, model, data):
    """True when the checked change was written over the version `model` was read at."""
    values = clean(data, current=model)
    _refuse_silent_move(model, values, data)
    read_at = model.version
    for field, value in values.items():
        setattr(model, field, value)
    if "api_key" in data:
        _set_key(model, data["api_key"])
    # only what changed: a whole-row save could write back a key the master-key rotation has
    # just re-encrypted
    changes = {field: model.__data__[field.name] for field in model.dirty_fields}
    changes.update({LLMModel.version: LLMModel.version + 1, LLMModel.updated_at: utcnow()})
    try:
        with database.atomic():
            written = LLMModel.update(changes).where(LLMModel.id == model.id, LLMModel.version == read_at)
            if not written.execute():
                return False
            audit.record(user, "model.update", subject(model), version=read_at + 1)
    except pw.IntegrityError:
        raise _name_taken(values.get("name", model.name), model.team) from None
    return True


def remove_key(user, model_uuid):
    return update(user, model_uuid, {"api_key": None})


def delete(user, model_uuid):
    model = owned(user, model_uuid)
    with database.atomic():
        model.delete_instance()
        audit.record(user, "model.delete", subject(model))


def _set_key(model, api_key):
    if api_key is None:
        model.api_key_encrypted = model.key_preview = None
        return
    key = clean_key(api_key)
    model.api_key_encrypted = crypto.encrypt(key, model.aad)
    model.key_preview = crypto.preview(key)


def _refuse_silent_move(model, values, data):
    """A model's own key is bound to its scheme, host and port: moving it elsewhere takes the key
    again (or null), or a stolen token could point the model at its own server, or at plain http,
    and receive the key."""
    moved = "base_url" in values and hosts.where(values["base_url"]) != hosts.where(model.base_url)
    if moved and model.api_key_encrypted and "api_key" not in data:
        raise FieldError("api_key", f"This model's own key may go only to {model.base_url}. "
                         f"To move the model to {values['base_url']}, enter its key again "
                         "(or remove the key, to use your provider secret).", "key_rebind_required", 409)


def _name_taken(name, team=None):
    whose = "The team already has" if team else "You already have"
    return FieldError("name", f"{whose} a model named “{name}”.", "model_exists", 409)


# --- testing a connection ----------------------------------------------------------------

def test_saved(user, model_uuid):
    model = visible(user, model_uuid)
    return _check(user, subject(model), model.base_url, lambda: resolver.resolve(user, model_uuid))


def test_unsaved(user, data):
    values = clean({k: v for k, v in data.items() if k != "name"}, required=())
    key = clean_key(data["api_key"]) if data.get("api_key") is not None else None
    return _check(user, "model:unsaved", values["base_url"], lambda: resolver.resolve_unsaved(
        user, values["provider"], values["base_url"], values["auth_type"], key, values.get("model_id")))


def _check(user, subject, base_url, make_target):
    """Every test is audited with the key it used and the host it went to, refusals included."""
    try:
        target = make_target()  # MissingApiKey, HostNotAllowed, …: they are the answer
    except VaultError as refused:
        audit.record(user, "model.test", subject, outcome=refused.code, detail=f"→ {hosts.describe(base_url)}")
        raise
    result = {**llm.check_connection(target, timeout=10), "key_source": target.key_source}
    outcome = "ok" if result.get("ok") else str(result.get("code") or "failed")[:32]
    audit.record(user, "model.test", subject, outcome=outcome, detail=audit.key_use(target))
    return result


# --- validation --------------------------------------------------------------------------

def clean(data, current=None, required=("name", "model_id")):
    """Checked values for the fields present in `data`; defaults from the provider on create."""
    refuse_unknown(data, FIELDS)
    values = {}
    creating = current is None
    provider = data.get("provider") if "provider" in data or creating else current.provider
    if providers.get(provider) is None:
        raise FieldError("provider", "Unknown provider. Choose one of: " + ", ".join(providers.PROVIDERS) + ".",
                         "unknown_provider")
    if "provider" in data or creating:
        values["provider"] = provider
    for field, limit in (("name", 100), ("model_id", 200)):
        if field in data or (creating and field in required):
            values[field] = _text(data.get(field), field, limit)
    if resolver.looks_like_id(values.get("name", "")):
        raise FieldError("name", "A model's name may not look like a model id: clients use ids to mean one "
                         "model exactly.")
    values.update(_endpoint(data, provider, current))
    for field in ("supports_streaming", "supports_tools"):
        if data.get(field) is not None:
            if not isinstance(data[field], bool):
                raise FieldError(field, f"'{field}' must be true or false.")
            values[field] = data[field]
    return values


def _endpoint(data, provider, current):
    """base_url and auth_type: given, else kept, else the provider's defaults."""
    entry = providers.PROVIDERS[provider]
    values = {}
    if "auth_type" in data or current is None or "provider" in data:
        auth = data.get("auth_type")
        auth = entry.auth_type if auth is None else auth  # only a missing value means "default"
        if not isinstance(auth, str) or auth not in providers.AUTH_TYPES:
            raise FieldError("auth_type", "auth_type is one of " + ", ".join(providers.AUTH_TYPES) + ".")
        values["auth_type"] = auth
    if "base_url" in data or current is None or "provider" in data:
        url = data.get("base_url")
        if url is None or url == "":
            url = base_url_for(provider) or None  # an override counts, custom's too
        if not isinstance(url, str) or not url.strip():
            raise FieldError("base_url", f"{entry.label} models need a base URL.")
        if len(url) > 500:
            raise FieldError("base_url", "The base URL is longer than 500 characters.", "too_long")
        try:
            values["base_url"] = check_base_url(url.strip(), current_app.config["VAULT_BASE_URL_POLICY"])
        except BadURL as exc:
            raise FieldError("base_url", str(exc), "invalid_base_url") from None
    return values


def _text(value, field, limit):
    if not isinstance(value, str) or not value.strip():
        raise FieldError(field, f"'{field}' is required and must be a non-empty string.")
    return checked_str(field, value.strip(), limit)


def _is_uuid(value):
    try:
        return str(uuid.UUID(value)) == value
    except (ValueError, TypeError, AttributeError):
        return False
