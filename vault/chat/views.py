"""/chat: the playground. Pick a model, type, watch the answer stream in (static/chat.js)."""
from flask import Blueprint, render_template
from flask_login import current_user, login_required

from ..models import service as models

bp = Blueprint("chat", __name__, url_prefix="/chat")


@bp.get("")
@login_required
def index():
    secrets = models.secrets_by_provider(current_user)
    return render_template("chat/index.html", models=models.listed(current_user),
                           key_of=lambda m: models.key_status(m, secrets))
