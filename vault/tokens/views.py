"""/tokens: create (shown once), list and revoke API tokens; fragments for htmx."""
from flask import Blueprint, render_template
from flask_login import current_user, login_required

from ..htmx import fragment, page_or_fragment
from . import service
from .api import session_only
from .forms import TokenForm

bp = Blueprint("tokens", __name__, url_prefix="/tokens")
bp.before_request(session_only)  # as on its JSON twin: a token cannot list or revoke tokens


@bp.get("")
@login_required
def index():
    return page_or_fragment("tokens/index.html", "tokens/_partials/token_rows.html",
                            form=TokenForm(formdata=None), tokens=service.listed(current_user))


@bp.post("")
@login_required
def create():
    form = TokenForm()
    if not form.validate_on_submit():
        return render_template("tokens/_partials/token_form.html", form=form), 422
    row, token = service.issue(current_user, form.name.data, form.expires_in_days.data)
    return fragment("tokens/_partials/token_form.html", 201, trigger="tokens-changed",
                    form=TokenForm(formdata=None), created=row, token=token)


@bp.post("/<int:token_id>/revoke")
@login_required
def revoke(token_id):
    row = service.revoke(current_user, token_id)
    return fragment("tokens/_partials/token_row.html", trigger="tokens-changed", t=row)
