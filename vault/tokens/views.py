"""/tokens: create (shown once), list and revoke API tokens; fragments for htmx."""
from flask import Blueprint, render_template
from flask_login import current_user, login_required
from wtforms import SelectChoice

from ..auth.users import ReauthenticationRequired, reauthenticate
from ..htmx import fragment, page_or_fragment
from ..ratelimit import guarded, password_refused
from ..validate import FieldError
from . import service
from .api import session_only
from .forms import TokenForm

bp = Blueprint("tokens", __name__, url_prefix="/tokens")
bp.before_request(session_only)  # as on its JSON twin: a token cannot list or revoke tokens
FORM = "tokens/_partials/token_form.html"


@bp.context_processor
def helpers():
    return {"scopes_of": service.scopes_of, "models_of": service.models_of}


def token_form(**kwargs):
    form = TokenForm(**kwargs)
    form.models.choices = [SelectChoice(name) for name in service.model_names(current_user)]
    return form


@bp.get("")
@login_required
def index():
    return page_or_fragment("tokens/index.html", "tokens/_partials/token_rows.html",
                            form=token_form(formdata=None), tokens=service.listed(current_user))


@bp.post("")
@guarded("RATELIMIT_LOGIN", counts=password_refused)  # a wrong password counts as a failed sign-in
@login_required
def create():
    form = token_form()
    if form.validate_on_submit():
        try:
            row, token = service.issue(
                current_user, form.name.data, form.expires_in_days.data, form.scopes.data,
                form.models.data or None,  # none picked: every model
                confirm=lambda: reauthenticate(current_user, form.password.data, "token.create"))
        except ReauthenticationRequired:
            form.password.errors.append("The password is wrong.")
        except FieldError as exc:
            form[exc.field].errors.append(exc.message)
        else:
            names = service.models_of(row) or service.model_names(current_user) or ["my-model"]
            # a fresh form showing the token, and the list with it (out of band): one round trip
            return fragment(FORM, 201, form=token_form(formdata=None), created=row, token=token,
                            example_model=names[0], rows_oob=True, tokens=service.listed(current_user))
    return render_template(FORM, form=form), 422


@bp.post("/<int:token_id>/revoke")
@login_required
def revoke(token_id):
    row = service.revoke(current_user, token_id)
    return fragment("tokens/_partials/token_row.html", t=row)
