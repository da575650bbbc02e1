"""/api/teams (README, Teams): the JSON twin of the team pages, on the same services. A team's
secrets take the bodies and give the answers of /api/secrets; its models are made with
POST /api/models and "team_id"."""
from flask import Blueprint, jsonify, url_for
from flask_login import current_user, login_required

from ..db import Invitation
from ..models import service as models
from ..ratelimit import guarded, password_refused
from ..secrets import api as secrets_api, service as secrets
from ..validate import json_body
from . import service

bp = Blueprint("teams_api", __name__, url_prefix="/api/teams")


@bp.before_request
@login_required
def signed_in():
    """Every route here answers for the signed-in user's memberships only."""


@bp.get("")
def index():
    return jsonify(teams=[service.team_json(m) for m in service.mine(current_user)])


@bp.post("")
def create():
    body = json_body(allowed={"name"})
    team = service.create(current_user, body.get("name"))
    return jsonify(team=_team(team.id)), 201, {"Location": url_for(".show", team_id=team.id)}


@bp.get("/<int:team_id>")
def show(team_id):
    return jsonify(team=_team(team_id))


@bp.delete("/<int:team_id>")
def delete(team_id):
    service.delete(current_user, team_id)
    return "", 204


@bp.get("/<int:team_id>/history")
def history(team_id):
    return jsonify(events=[service.event_json(e) for e in service.history(current_user, team_id)])


# --- members -------------------------------------------------------------------------------

@bp.post("/<int:team_id>/members")
def add_member(team_id):
    body = json_body(allowed={"email", "role"})
    added = service.add_member(current_user, team_id, body.get("email"), body.get("role", "member"))
    if isinstance(added, Invitation):
        return jsonify(invitation=service.invitation_json(added)), 201
    return jsonify(member=service.member_json(added)), 201


@bp.patch("/<int:team_id>/members/<int:user_id>")
def change_role(team_id, user_id):
    body = json_body(allowed={"role"})
    return jsonify(member=service.member_json(service.change_role(current_user, team_id, user_id, body.get("role"))))


@bp.delete("/<int:team_id>/members/<int:user_id>")
def remove_member(team_id, user_id):
    service.remove_member(current_user, team_id, user_id)
    return "", 204


@bp.delete("/<int:team_id>/invitations/<int:invitation_id>")
def cancel_invitation(team_id, invitation_id):
    service.cancel_invitation(current_user, team_id, invitation_id)
    return "", 204


# --- secrets: members read, owners write ---------------------------------------------------

@bp.get("/<int:team_id>/secrets")
def secrets_index(team_id):
    return jsonify(secrets=secrets_api.listed_json(service.keys(current_user, team_id)))


@bp.post("/<int:team_id>/secrets")
@guarded("RATELIMIT_LOGIN", password_refused)
def secrets_create(team_id):
    keys = service.keys(current_user, team_id, owner=True)
    secret = secrets_api.create_from(keys)
    location = url_for(".secrets_show", team_id=team_id, provider=secret.provider)
    return jsonify(secret=secrets_api.as_json(keys, secret)), 201, {"Location": location}


@bp.get("/<int:team_id>/secrets/<provider>")
def secrets_show(team_id, provider):
    keys = service.keys(current_user, team_id)
    return jsonify(secret=secrets_api.as_json(keys, secrets.get(keys, provider)))


@bp.put("/<int:team_id>/secrets/<provider>")
@guarded("RATELIMIT_LOGIN", password_refused, methods=["PUT"])
def secrets_update(team_id, provider):
    keys = service.keys(current_user, team_id, owner=True)
    return jsonify(secret=secrets_api.as_json(keys, secrets_api.update_from(keys, provider)))


@bp.delete("/<int:team_id>/secrets/<provider>")
def secrets_delete(team_id, provider):
    secrets.delete(service.keys(current_user, team_id, owner=True), provider)
    return "", 204


@bp.post("/<int:team_id>/secrets/<provider>/check")
def secrets_check(team_id, provider):
    return secrets_api.check_json(secrets.check(service.keys(current_user, team_id, owner=True), provider))


# --- one answer for a team ------------------------------------------------------------------

def _team(team_id):
    """The team as its member sees it: members, invitations, secrets (never a key) and models."""
    found = service.membership(current_user, team_id)
    team, keys = found.team, secrets.Keys(current_user, found.team)
    listed = service.members(team)
    by_provider = models.secrets_by_provider(current_user)
    return {**service.team_json(found, len(listed)),
            "members": [service.member_json(m) for m in listed],
            # owners only: a pending invitation is theirs to pass on or cancel
            "invitations": [service.invitation_json(i) for i in service.invitations(team)] if found.role == "owner" else [],
            "secrets": secrets_api.listed_json(keys),
            "models": [models.as_json(m, by_provider) for m in models.listed(current_user, team)]}
