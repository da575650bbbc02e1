"""/api/secrets and /api/providers (README, Provider secrets): the JSON twin of the secrets
page, on the same service. Session (with CSRF) or Bearer token."""
from flask import Blueprint, jsonify, url_for
from flask_login import current_user, login_required

from ..db import iso
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
    using = service.models_using(current_user)
    return jsonify(secrets=[service.as_json(s, using.get(s.provider, 0))
                            for s in service.listed(current_user)])


@bp.post("/secrets")
def create():
    body = json_body(allowed={"provider", "api_key", "expires_at"})
    provider = required_str(body, "provider", 32)
    secret = service.create(current_user, provider, body.get("api_key"),
                            service.parse_expiry(body.get("expires_at")))
    location = url_for(".show", provider=secret.provider)
    return jsonify(secret=_json(secret)), 201, {"Location": location}


@bp.get("/secrets/<provider>")
def show(provider):
    return jsonify(secret=_json(service.get(current_user, provider)))


@bp.put("/secrets/<provider>")
def update(provider):
    """Rotation is a PUT with a new api_key; expires_at alone changes only the expiry."""
    body = json_body(allowed={"api_key", "expected_version", "expires_at"})
    version = optional_int(body, "expected_version", 1, 2**31 - 1)
    expires = service.parse_expiry(body["expires_at"]) if "expires_at" in body else service.UNSET
    secret = service.update(current_user, provider, body.get("api_key"), version, expires)
    return jsonify(secret=_json(secret))


@bp.delete("/secrets/<provider>")
def delete(provider):
    service.delete(current_user, provider)
    return "", 204


@bp.post("/secrets/<provider>/check")
def check(provider):
    result = service.check(current_user, provider)
    return jsonify(ok=result["ok"], status=result["status"], message=result["message"],
                   checked_at=iso(result["checked_at"]))


@bp.get("/secrets/<provider>/history")
def history(provider):
    return jsonify(events=[service.event_json(e) for e in service.history(current_user, provider)])


def _json(secret):
    return service.as_json(secret, service.models_using(current_user).get(secret.provider, 0))
