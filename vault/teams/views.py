"""/teams: the user's teams and a create form; /teams/<id>: a team's members, invitations,
secrets, models and history, as htmx fragments. Every rule is the services' (this area's, the
secrets' and the models'), the same functions /api/teams calls: members read, owners write."""
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..db import Invitation
from ..errors import NotFound
from ..htmx import fragment, is_htmx, page_or_fragment, replacing
from ..models import service as models
from ..secrets import service as secrets, views as secret_views
from ..validate import FieldError
from . import service
from .forms import MemberForm, TeamForm, TeamModelForm

bp = Blueprint("teams", __name__, url_prefix="/teams")

ROWS = "teams/_partials/team_rows.html"
TEAM_FORM = "teams/_partials/team_form.html"
MEMBERS = "teams/_partials/members.html"
MEMBER_FORM = "teams/_partials/member_form.html"
MODELS = "teams/_partials/models.html"
MODEL_FORM = "teams/_partials/model_form.html"

# A team's secret rows are the /secrets page's own views and partials, on the team's keys.
for _rule, _view, _method in (("", "row", "GET"), ("/new", "new", "GET"), ("", "create", "POST"),
                              ("/rotate", "edit", "GET"), ("/rotate", "update", "POST"),
                              ("", "delete", "DELETE"), ("/check", "check", "POST"),
                              ("/history", "history", "GET"), ("/hosts", "hosts", "GET"),
                              ("/hosts", "allow_hosts", "POST")):
    bp.add_url_rule(f"/<int:team_id>/secrets/<provider>{_rule}", f"secret_{_view}",
                    getattr(secret_views, _view), methods=[_method])


@bp.before_request
@login_required
def signed_in():
    """Every view here answers for the signed-in user's memberships only."""


@bp.get("")
def index():
    return page_or_fragment("teams/index.html", ROWS, teams=service.mine(current_user), form=TeamForm(formdata=None))


@bp.post("")
def create():
    form = TeamForm()
    team = _saved(form, lambda: service.create(current_user, form.name.data)) if form.validate_on_submit() else None
    if team is None:
        return render_template(TEAM_FORM, form=form), 422
    # a fresh form saying so, and the list with the new team in it (out of band): one round trip
    return fragment(TEAM_FORM, 201, form=TeamForm(formdata=None), created=team, rows_oob=True,
                    teams=service.mine(current_user))


@bp.get("/<int:team_id>")
def show(team_id):
    found = service.membership(current_user, team_id)
    keys = secrets.Keys(current_user, found.team)
    return page_or_fragment("teams/show.html", MEMBERS, rows=secrets.overview(keys), writable=found.role == "owner",
                            counts=service.counts(found.team), member_form=MemberForm(formdata=None),
                            model_form=TeamModelForm(formdata=None), **_members(found) | _models(found))


@bp.delete("/<int:team_id>")
def delete(team_id):
    team = service.membership(current_user, team_id).team
    service.delete(current_user, team_id)
    flash(f"Team “{team.name}” deleted, with its secrets and models.", "success")
    return "", 200, {"HX-Redirect": url_for(".index")}


@bp.get("/<int:team_id>/history")
def history(team_id):
    events = service.history(current_user, team_id)
    if not is_htmx():
        return redirect(url_for(".show", team_id=team_id, _anchor="team-history"))
    return fragment("teams/_partials/history.html", events=events)


# --- members -------------------------------------------------------------------------------

@bp.post("/<int:team_id>/members")
def add_member(team_id):
    found = service.require_owner(current_user, team_id, "add members")
    form = MemberForm()
    added = _saved(form, lambda: service.add_member(current_user, team_id, form.email.data, form.role.data)
                   ) if form.validate_on_submit() else None
    if added is None:
        return render_template(MEMBER_FORM, form=form, team=found.team), 422
    link = None
    if isinstance(added, Invitation):
        notice = (f"{added.email} is invited as {added.role}. Send them this link: registering from it "
                  "is what admits their email. It is shown only now.")
        link = service.invitation_json(added)["link"]
    else:
        notice = f"{added.user.email} is {_a(added.role)} of the team now."
    return fragment(MEMBER_FORM, 201, form=MemberForm(formdata=None), created=notice, link=link,
                    members_oob=True, **_members(found))


@bp.post("/<int:team_id>/members/<int:user_id>/role")
def change_role(team_id, user_id):
    try:
        changed = service.change_role(current_user, team_id, user_id, request.form.get("role"))
    except service.LastOwner as exc:  # shown where it was asked, not only in the passing toast
        return _member_list(team_id, error=exc.message)
    if user_id == current_user.id:  # stepping down: the page's owner buttons are no longer theirs
        flash("You are a member of the team now, no longer an owner.", "success")
        return "", 200, {"HX-Refresh": "true"}
    return _member_list(team_id, notice=f"{changed.user.email} is {_a(changed.role)} now.")


@bp.delete("/<int:team_id>/members/<int:user_id>")
def remove_member(team_id, user_id):
    """An owner removing anyone, or a member leaving (their own row)."""
    team = service.membership(current_user, team_id).team
    email = next((m.user.email for m in service.members(team) if m.user_id == user_id), None)
    try:
        service.remove_member(current_user, team_id, user_id)
    except service.LastOwner as exc:
        return _member_list(team_id, error=exc.message)
    if user_id == current_user.id:
        flash(f"You left the team “{team.name}”.", "success")
        return "", 200, {"HX-Redirect": url_for(".index")}
    return _member_list(team_id, notice=f"{email} is no longer a member: their next request with the "
                                        "team's keys or models is refused.")


@bp.delete("/<int:team_id>/invitations/<int:invitation_id>")
def cancel_invitation(team_id, invitation_id):
    service.cancel_invitation(current_user, team_id, invitation_id)
    return _member_list(team_id, notice="Invitation cancelled.")


# --- models --------------------------------------------------------------------------------

@bp.post("/<int:team_id>/models")
def model_create(team_id):
    found = service.require_owner(current_user, team_id, "add models to the team")
    form = TeamModelForm()
    model = _saved(form, lambda: models.create(current_user, form.values(team_id))) if form.validate_on_submit() else None
    if model is None:
        return render_template(MODEL_FORM, form=form, team=found.team), 422
    return fragment(MODEL_FORM, 201, form=TeamModelForm(formdata=None), created=model.name, models_oob=True,
                    **_models(found))


@bp.delete("/<int:team_id>/models/<model_uuid>")
def model_delete(team_id, model_uuid):
    found = service.require_owner(current_user, team_id, "delete the team's models")
    model = models.visible(current_user, model_uuid)
    if model.team_id != found.team.id:  # another team's, or the user's own: not on this page
        raise NotFound("No such model.")
    models.delete(current_user, model_uuid)
    return replacing("#team-models", MODELS, notice=f"Model “{model.name}” deleted.", **_models(found))


# --- helpers -------------------------------------------------------------------------------

def _saved(form, save):
    """The service's answer, or None with its field error next to the field it names."""
    try:
        return save()
    except FieldError as exc:
        field = getattr(form, exc.field, None)
        (field.errors if field is not None else form.form_errors).append(exc.message)
        return None


def _a(role):
    return "an owner" if role == "owner" else "a member"


def _members(found):
    team = found.team
    owner = found.role == "owner"  # pending invitations are the owners' to pass on or cancel
    return {"team": team, "owner": owner, "members": service.members(team),
            "invitations": service.invitations(team) if owner else []}


def _member_list(team_id, **extra):
    """The members and invitations after a change, with a line saying what happened (or why not)."""
    return replacing("#team-members", MEMBERS, **_members(service.membership(current_user, team_id)), **extra)


def _models(found):
    held = models.secrets_by_provider(current_user)
    return {"team": found.team, "owner": found.role == "owner", "models": models.listed(current_user, found.team),
            "key_of": lambda m: models.key_status(m, held), "warning_of": lambda m: models.host_warning(m, held)}
