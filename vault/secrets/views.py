"""/secrets: one row per provider; inline add and rotate, check, history and delete as htmx
fragments. All work goes through service.py, the same functions /api/secrets calls. A team's page
serves its secret rows with these same views (vault/teams/views.py): `team_id` set, they act on
the team's keys, which its owners change and its members only read."""
from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required

from ..auth.users import ReauthenticationRequired, reauthenticate
from ..htmx import fragment, is_htmx, offer_to_replace, page_or_fragment, replacing
from ..ratelimit import guarded, password_refused
from ..teams import service as teams
from . import service
from .forms import HostsForm, SecretForm

bp = Blueprint("secrets", __name__, url_prefix="/secrets")

ROW = "secrets/_partials/secret_row.html"
ROWS = "secrets/_partials/secret_rows.html"
FORM = "secrets/_partials/secret_form.html"
HOSTS_FORM = "secrets/_partials/hosts_form.html"


@bp.before_request
@login_required
def signed_in():
    """Every view here is the user's own."""


@bp.get("")
def index():
    keys = service.Keys(current_user)
    return page_or_fragment("secrets/index.html", ROWS, rows=service.overview(keys), **_scope(keys))


@bp.get("/<provider>")
def row(provider, team_id=None):
    """The row at rest; "Cancel" in a form swaps it back in."""
    keys = _keys(team_id, write=False)
    r = service.row(keys, provider)
    return fragment(ROW, r=r, **_scope(keys)) if is_htmx() else _to_row(keys, provider)


@bp.get("/<provider>/new")
def new(provider, team_id=None):
    keys = _keys(team_id)
    r = service.row(keys, provider)
    if r.secret is not None:  # another tab added it meanwhile: offer the rotation instead
        return edit(provider, team_id)
    form = SecretForm(provider, formdata=None)
    return fragment(FORM, r=r, form=form, **_scope(keys)) if is_htmx() else _to_row(keys, provider)


@bp.post("/<provider>")
@guarded("RATELIMIT_LOGIN", password_refused)
def create(provider, team_id=None):
    keys = _keys(team_id)
    r = service.row(keys, provider)  # 404 for an unknown provider
    form = SecretForm(provider)
    if not form.validate_on_submit() or not _hosts_confirmed(form, provider):
        return render_template(FORM, r=r, form=form, **_scope(keys)), 422
    try:
        service.create(keys, provider, form.api_key.data, form.expiry(), form.allowed_hosts.data)
    except service.SecretExists:  # another tab added one meanwhile: offer its rotation, in place
        secret = service.get(keys, provider, "secret.rotate")
        rotate = SecretForm(provider, secret, formdata=None)
        rotate.form_errors.append(f"A key ({secret.key_preview}) was added meanwhile, in another tab or "
                                  "window: enter yours again to replace it, or Cancel to keep it.")
        return fragment(FORM, r=service.row(keys, provider), form=rotate, **_scope(keys))
    return _rows(keys, 201, "{label} key saved: models of {label} without a key of their own use it now.",
                 provider)


@bp.get("/<provider>/rotate")
def edit(provider, team_id=None):
    keys = _keys(team_id)
    form = SecretForm(provider, service.get(keys, provider, "secret.rotate"), formdata=None)
    r = service.row(keys, provider)
    return fragment(FORM, r=r, form=form, **_scope(keys)) if is_htmx() else _to_row(keys, provider)


@bp.post("/<provider>/rotate")
def update(provider, team_id=None):
    keys = _keys(team_id)
    form = SecretForm(provider, service.get(keys, provider, "secret.rotate"))
    if form.validate_on_submit() and _rotated(keys, form, provider):
        return _rows(keys, 200, "{label} key updated: every model using it has the change on its next "
                     "request.", provider)
    return render_template(FORM, r=service.row(keys, provider), form=form, **_scope(keys)), 422


@bp.delete("/<provider>")
def delete(provider, team_id=None):
    keys = _keys(team_id)
    service.delete(keys, provider)
    return _rows(keys, 200, "{label} key deleted.", provider)


@bp.post("/<provider>/check")
def check(provider, team_id=None):
    result = service.check(_keys(team_id), provider)
    return fragment("secrets/_partials/secret_check.html", provider=provider, outcome=result["status"],
                    checked_at=result["checked_at"], message=result["message"])


@bp.get("/<provider>/history")
def history(provider, team_id=None):
    return fragment("secrets/_partials/secret_history.html", provider=provider,
                    events=service.history(_keys(team_id), provider))


@bp.get("/<provider>/hosts")
def hosts(provider, team_id=None):
    keys = _keys(team_id)
    form = HostsForm(provider, service.get(keys, provider, "secret.allow_hosts"), formdata=None)
    r = service.row(keys, provider)
    return fragment(HOSTS_FORM, r=r, form=form, **_scope(keys)) if is_htmx() else _to_row(keys, provider)


@bp.post("/<provider>/hosts")
@guarded("RATELIMIT_LOGIN", password_refused)
def allow_hosts(provider, team_id=None):
    keys = _keys(team_id)
    form = HostsForm(provider, service.get(keys, provider, "secret.allow_hosts"))
    if form.validate_on_submit() and _hosts_changed(keys, form, provider):
        return _rows(keys, 200, "Where the {label} key may go is changed.", provider)
    return render_template(HOSTS_FORM, r=service.row(keys, provider), form=form, **_scope(keys)), 422


def _keys(team_id, write=True):
    """The signed-in user's own keys, or a team's: its owners write them, its members read them,
    anyone else finds no such team (404)."""
    if team_id is None:
        return service.Keys(current_user)
    return teams.keys(current_user, team_id, owner=write)


def _scope(keys):
    """What the shared partials need to know: whose rows (their URLs and wording follow), and
    whether to offer the write buttons."""
    return {"team": keys.team, "writable": keys.writable}


def _hosts_changed(keys, form, provider):
    try:
        reauthenticate(current_user, form.password.data, "secret.allow_hosts")
        service.allow_hosts(keys, provider, form.allowed_hosts.data, form.expected_version.data)
    except ReauthenticationRequired as exc:
        form.password.errors.append(exc.message)
        return False
    except service.VersionConflict as exc:
        return offer_to_replace(form, exc, "secret")
    return True


def _rows(keys, status, notice, provider):
    """After a change, the whole list: its order, counts and expiry notes follow the change, and a
    line says what was done."""
    label = service.known_provider(provider).label
    return replacing("#secret-rows", ROWS, status, rows=service.overview(keys),
                     notice=notice.format(label=label), **_scope(keys))


def _hosts_confirmed(form, provider):
    """Hosts beyond the provider's own take the password, as changing them later does."""
    if not service.widens(provider, form.allowed_hosts.data):
        return True
    try:
        reauthenticate(current_user, form.password.data, "secret.allow_hosts")
    except ReauthenticationRequired as exc:
        form.password.errors.append(exc.message)
        return False
    return True


def _rotated(keys, form, provider):
    """Applies a valid form; False, with the reason on the form, when there was nothing to change
    or another tab saved first (then the form offers to replace that version)."""
    changes = form.changes()
    if changes is None:
        form.api_key.errors.append("Enter a new key, or change the expiry date.")
        return False
    try:
        service.update(keys, provider, expected_version=form.expected_version.data, **changes)
    except service.VersionConflict as exc:
        return offer_to_replace(form, exc, "secret")
    return True


def _to_row(keys, provider):
    """Fragment URLs opened outside htmx land on the page, at that provider's row."""
    if keys.team:
        return redirect(url_for("teams.show", team_id=keys.team.id, _anchor=f"secret-{provider}"))
    return redirect(url_for("secrets.index", _anchor=f"secret-{provider}"))
