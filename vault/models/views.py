"""/models page: the user's models and the shared catalog, the add form, inline edit, delete,
"remove own key" and "test connection", all as htmx fragments."""
from flask import Blueprint, render_template, request
from flask_login import current_user, login_required

from ..gateway import usage
from ..errors import VaultError, VersionConflict
from ..htmx import fragment, offer_to_replace, page_or_fragment, replacing
from ..teams import service as teams
from ..validate import FieldError
from . import service
from .forms import EditForm, ModelForm

bp = Blueprint("models", __name__, url_prefix="/models")


@bp.before_request
@login_required
def signed_in():
    pass


@bp.get("")
def index():
    return page_or_fragment("models/index.html", "models/_partials/model_rows.html",
                            form=_new_form(None), **_rows())


@bp.get("/form")
def form():
    """The add form again, for another provider or mode (a GET: it never carries the key)."""
    form = _new_form(request.args)
    if "supports_streaming" not in request.args:  # coming from template mode, which has no box
        form.supports_streaming.data = True
    return _form_fragment(form)


@bp.get("/key-note")
def key_note():
    """The add form's note on which key a model would use, again as its base URL is typed:
    the warning comes before saving, not after the model is live."""
    return _form_fragment(_new_form(request.args), "models/_partials/key_note.html")


@bp.post("")
def create():
    form = _new_form()
    if form.validate_on_submit() and _saved(form, lambda: service.create(current_user, form.values())):
        # a fresh form, and the list with the new model in it (out of band): one round trip
        return _form_fragment(_new_form(None), created=form.name.data, rows_oob=True, **_rows()), 201
    return _form_fragment(form), 422


@bp.post("/test")
def test_unsaved():
    form = _new_form()
    return _test_result(lambda: service.test_unsaved(current_user, form.values()))


@bp.get("/<model_uuid>")
def row(model_uuid):
    return _row(service.visible(current_user, model_uuid))


@bp.get("/<model_uuid>/edit")
def edit(model_uuid):
    model = service.owned(current_user, model_uuid)
    form = EditForm(formdata=None, obj=model, mode="manual", expected_version=model.version,
                    prefix=_edit_prefix(model_uuid))
    return render_template("models/_partials/model_edit_row.html", m=model, form=form)


@bp.post("/<model_uuid>")
def update(model_uuid):
    model = service.owned(current_user, model_uuid)
    form = EditForm(mode="manual", prefix=_edit_prefix(model_uuid))
    if form.validate_on_submit() and _saved(form, lambda: service.update(current_user, model_uuid, form.values())):
        return _row(service.visible(current_user, model_uuid))
    return render_template("models/_partials/model_edit_row.html", m=model, form=form), 422


@bp.post("/<model_uuid>/remove-key")
def remove_key(model_uuid):
    return _row(service.remove_key(current_user, model_uuid))


@bp.post("/<model_uuid>/delete")
def delete(model_uuid):
    service.delete(current_user, model_uuid)
    return replacing("#model-rows", "models/_partials/model_rows.html", **_rows())  # the empty state too


@bp.post("/<model_uuid>/test")
def test_saved(model_uuid):
    service.visible(current_user, model_uuid)
    return _test_result(lambda: service.test_saved(current_user, model_uuid), model_uuid)


def _edit_prefix(model_uuid):
    """Field ids unique on the page, so each label points at its own row's input."""
    return f"edit-{model_uuid[:8]}"


def _new_form(formdata=False):
    return (ModelForm() if formdata is False else ModelForm(formdata=formdata)).fill_defaults()


def _saved(form, save):
    """Runs the service; its field errors land next to the field they name."""
    try:
        save()
        return True
    except FieldError as exc:
        getattr(form, exc.field, form.name).errors.append(exc.message)
        return False
    except VersionConflict as exc:  # another tab saved first: saving again replaces its version
        return offer_to_replace(form, exc, "model")


def _form_fragment(form, template="models/_partials/model_form.html", **ctx):
    secrets = ctx.pop("secrets", None) or service.secrets_by_provider(current_user)
    typed = form.mode.data == "manual" or "{" in form.default_base_url
    base_url = form.base_url.data if typed else form.default_base_url
    return render_template(template, form=form, entry=form.entry, secrets=secrets,
                           host_warning=service.unsaved_host_warning(secrets, form.entry, base_url), **ctx)


def _rows():
    secrets = service.secrets_by_provider(current_user)
    return {"models": service.listed(current_user), "secrets": secrets,
            "team_names": {found.team.id: found.team.name for found in teams.mine(current_user)},
            "usage": usage.totals(current_user, 30, "model"),
            "key_of": lambda m: service.key_status(m, secrets),
            "warning_of": lambda m: service.host_warning(m, secrets)}


def _row(model):
    return fragment("models/_partials/model_row.html", m=model, **_rows())


def _test_result(run, model_uuid=None):
    try:
        result = run()
    except VaultError as exc:  # no key, bad field: the result box says so, in place
        result = {"ok": False, "status": None, "message": exc.message, "key_source": None}
    return render_template("models/_partials/test_result.html", result=result, model_uuid=model_uuid)
