"""/secrets: one row per provider; inline add and rotate, check, history and delete as htmx
fragments. All work goes through service.py, the same functions /api/secrets calls."""
from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required

from ..auth.users import ReauthenticationRequired, reauthenticate
from ..htmx import fragment, is_htmx, offer_to_replace, page_or_fragment, replacing
from ..ratelimit import guarded, password_refused
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
    return page_or_fragment("secrets/index.html", ROWS, rows=service.overview(current_user))


@bp.get("/<provider>")
def row(provider):
    """The row at rest; "Cancel" in a form swaps it back in."""
    r = service.row(current_user, provider)
    return fragment(ROW, r=r) if is_htmx() else _to_row(provider)


@bp.get("/<provider>/new")
def new(provider):
    r = service.row(current_user, provider)
    if r.secret is not None:  # another tab added it meanwhile: offer the rotation instead
        return edit(provider)
    return fragment(FORM, r=r, form=SecretForm(provider, formdata=None)) if is_htmx() else _to_row(provider)


@bp.post("/<provider>")
@guarded("RATELIMIT_LOGIN", password_refused)
def create(provider):
    r = service.row(current_user, provider)  # 404 for an unknown provider
    form = SecretForm(provider)
    if not form.validate_on_submit() or not _hosts_confirmed(form, provider):
        return render_template(FORM, r=r, form=form), 422
    try:
        service.create(current_user, provider, form.api_key.data, form.expiry(), form.allowed_hosts.data)
    except service.SecretExists:  # another tab added one meanwhile: offer its rotation, in place
        secret = service.get(current_user, provider, "secret.rotate")
        rotate = SecretForm(provider, secret, formdata=None)
        rotate.form_errors.append(f"A key ({secret.key_preview}) was added meanwhile, in another tab or "
                                  "window: enter yours again to replace it, or Cancel to keep it.")
        return fragment(FORM, r=service.row(current_user, provider), form=rotate)
    return _rows(201, "{label} key saved: models of {label} without a key of their own use it now.",
                 provider)


@bp.get("/<provider>/rotate")
def edit(provider):
    secret = service.get(current_user, provider, "secret.rotate")
    form = SecretForm(provider, secret, formdata=None)
    return fragment(FORM, r=service.row(current_user, provider), form=form) if is_htmx() else _to_row(provider)


@bp.post("/<provider>/rotate")
def update(provider):
    form = SecretForm(provider, service.get(current_user, provider, "secret.rotate"))
    if form.validate_on_submit() and _rotated(form, provider):
        return _rows(200, "{label} key updated: every model using it has the change on its next "
                     "request.", provider)
    return render_template(FORM, r=service.row(current_user, provider), form=form), 422


@bp.delete("/<provider>")
def delete(provider):
    service.delete(current_user, provider)
    return _rows(200, "{label} key deleted.", provider)


@bp.post("/<provider>/check")
def check(provider):
    result = service.check(current_user, provider)
    return fragment("secrets/_partials/secret_check.html", provider=provider, outcome=result["status"],
                    checked_at=result["checked_at"], message=result["message"])


@bp.get("/<provider>/history")
def history(provider):
    return fragment("secrets/_partials/secret_history.html", provider=provider,
                    events=service.history(current_user, provider))


@bp.get("/<provider>/hosts")
def hosts(provider):
    form = HostsForm(provider, service.get(current_user, provider, "secret.allow_hosts"), formdata=None)
    return fragment(HOSTS_FORM, r=service.row(current_user, provider), form=form) if is_htmx() else _to_row(provider)


@bp.post("/<provider>/hosts")
@guarded("RATELIMIT_LOGIN", password_refused)
def allow_hosts(provider):
    form = HostsForm(provider, service.get(current_user, provider, "secret.allow_hosts"))
    if form.validate_on_submit() and _hosts_changed(form, provider):
        return _rows(200, "Where the {label} key may go is changed.", provider)
    return render_template(HOSTS_FORM, r=service.row(current_user, provider), form=form), 422


def _hosts_changed(form, provider):
    try:
        reauthenticate(current_user, form.password.data, "secret.allow_hosts")
        service.allow_hosts(current_user, provider, form.allowed_hosts.data, form.expected_version.data)
    except ReauthenticationRequired as exc:
        form.password.errors.append(exc.message)
        return False
    except service.VersionConflict as exc:
        return offer_to_replace(form, exc, "secret")
    return True


def _rows(status, notice, provider):
    """After a change, the whole list: its order, counts and expiry notes follow the change, and a
    line says what was done."""
    label = service.known_provider(provider).label
    return replacing("#secret-rows", ROWS, status, rows=service.overview(current_user),
                     notice=notice.format(label=label))


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


def _rotated(form, provider):
    """Applies a valid form; False, with the reason on the form, when there was nothing to change
    or another tab saved first (then the form offers to replace that version)."""
    changes = form.changes()
    if changes is None:
        form.api_key.errors.append("Enter a new key, or change the expiry date.")
        return False
    try:
        service.update(current_user, provider, expected_version=form.expected_version.data, **changes)
    except service.VersionConflict as exc:
        return offer_to_replace(form, exc, "secret")
    return True


def _to_row(provider):
    """Fragment URLs opened outside htmx land on the page, at that provider's row."""
    return redirect(url_for(".index", _anchor=f"secret-{provider}"))
