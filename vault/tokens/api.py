"""/api/tokens: the JSON twin of the tokens page. Session only: a token cannot mint tokens, and
minting one takes the account password too (a stolen session cookie must not mint a credential)."""
from flask import Blueprint, jsonify
from flask_login import current_user, login_required

from ..auth.bearer import refuse_tokens
from ..auth.users import reauthenticate
from ..ratelimit import guarded, password_refused
from ..validate import json_body, optional_int, required_str
from . import service

bp = Blueprint("tokens_api", __name__, url_prefix="/api/tokens")


@bp.before_request
@login_required
def session_only():
    refuse_tokens("API tokens are")


@bp.get("")
def index():
    return jsonify(tokens=[service.as_json(t) for t in service.listed(current_user)])


@bp.post("")
@guarded("RATELIMIT_LOGIN", counts=password_refused)  # a wrong password counts as a failed sign-in
def create():
    body = json_body(allowed={"name", "expires_in_days", "scopes", "models", "password"})
    days = optional_int(body, "expires_in_days", 1, 3650)
    row, token = service.issue(
        current_user, required_str(body, "name", 100), days, body.get("scopes", service.DEFAULT_SCOPES),
        body.get("models"), confirm=lambda: reauthenticate(current_user, body.get("password"), "token.create"))
    return jsonify(token=token, **service.as_json(row)), 201


@bp.delete("/<int:token_id>")
def delete(token_id):
    service.revoke(current_user, token_id)
    return "", 204
