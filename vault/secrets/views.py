"""/secrets page (placeholder until the provider-secrets issue lands)."""
from flask import Blueprint, render_template
from flask_login import login_required

bp = Blueprint("secrets", __name__, url_prefix="/secrets")


@bp.get("")
@login_required
def index():
    return render_template("secrets/index.html")
