"""/api/secrets and /api/providers (README, Provider secrets): the JSON twin of the secrets
page, on the same service. Session (with CSRF) or Bearer token."""
from flask import Blueprint, jsonify, url_for
from flask_login import current_user, login_required

from ..auth.bearer import refuse_tokens
from ..auth.users import reauthenticate
from ..db import iso
from ..errors import BadRequest
from ..ratelimit import guarded, password_refused
from ..validate import json_body, optional_int, required_str
from . import service

bp = Blueprint("secrets_api", __name__, url_prefix="/api")


@bp.before_request
@login_required
def signed_in():
    """Every route here answers for the signed-in user only."""


@bp.get("/providers")
def providers_index():
    return jsonify(providers=service.providers_json(current_user))


@bp.get("/secrets")
def index():
    return jsonify(secrets=listed_json(current_user))


@bp.post("/secrets")
@guarded("RATELIMIT_LOGIN", password_refused)
def create():
    secret = create_from(current_user)
    return jsonify(secret=as_json(current_user, secret)), 201, {"Location": url_for(".show", provider=secret.provider)}


def create_from(who):
    """POST's body, for the user's secrets or a team's (vault/teams/api.py)."""
    body = json_body(allowed={"provider", "api_key", "expires_at", "allowed_hosts", "password"})
    provider = required_str(body, "provider", 32)
    if service.widens(provider, body.get("allowed_hosts")):
        _confirm_hosts(who, body.get("password"))
    return service.create(who, provider, body.get("api_key"), service.parse_expiry(body.get("expires_at")),
                          body.get("allowed_hosts"))


@bp.get("/secrets/<provider>")
def show(provider):
    return jsonify(secret=as_json(current_user, service.get(current_user, provider)))


@bp.put("/secrets/<provider>")
@guarded("RATELIMIT_LOGIN", password_refused, methods=["PUT"])
def update(provider):
    return jsonify(secret=as_json(current_user, update_from(current_user, provider)))


def update_from(who, provider):
    """Rotation is a PUT with a new api_key; expires_at alone changes only the expiry;
    allowed_hosts, where the key may be sent, only from a browser session with the password."""
    body = json_body(allowed={"api_key", "expected_version", "expires_at", "allowed_hosts", "password"})
    version = optional_int(body, "expected_version", 1, 2**31 - 1)
    if "allowed_hosts" in body:
        return _allow_hosts(who, provider, body, version)
    expires = service.parse_expiry(body["expires_at"]) if "expires_at" in body else service.UNSET
    return service.update(who, provider, body.get("api_key"), version, expires)


@bp.delete("/secrets/<provider>")
def delete(provider):
    service.delete(current_user, provider)
    return "", 204


@bp.post("/secrets/<provider>/check")
def check(provider):
    return check_json(service.check(current_user, provider))


def check_json(result):
    return jsonify(ok=result["ok"], status=result["status"], message=result["message"],
                   checked_at=iso(result["checked_at"]))


@bp.get("/secrets/<provider>/history")
def history(provider):
    return jsonify(events=[service.event_json(e) for e in service.history(current_user, provider)])


def _allow_hosts(who, provider, body, version):
    if set(body) - {"allowed_hosts", "password", "expected_version"}:
        raise BadRequest("Change allowed_hosts on its own, not with a new key or expiry.")
    _confirm_hosts(who, body.get("password"))
    return service.allow_hosts(who, provider, body["allowed_hosts"], version)


def _confirm_hosts(who, password):
    """Where a key may go is chosen by a person, in a browser session, with their password."""
    refuse_tokens("Where a key may be sent is")
    reauthenticate(service.keys_of(who).actor, password, "secret.allow_hosts")


def as_json(who, secret):
    return service.as_json(secret, service.models_using(who).get(secret.provider, 0))


def listed_json(who):
    """Every secret of a user or team, with one count of the models relying on each."""
    using = service.models_using(who)
    return [service.as_json(s, using.get(s.provider, 0)) for s in service.listed(who)]
