"""/models page (placeholder until the provider-models issue lands)."""
from flask import Blueprint, render_template
from flask_login import login_required

bp = Blueprint("models", __name__, url_prefix="/models")


@bp.get("")
@login_required
def index():
    return render_template("models/index.html")
