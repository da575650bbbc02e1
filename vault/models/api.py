"""/api/models (placeholder until the models issue lands)."""
from flask import Blueprint

bp = Blueprint("models_api", __name__, url_prefix="/api/models")
