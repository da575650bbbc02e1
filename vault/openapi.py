"""GET /api/openapi.json: the OpenAPI 3.1 description of every JSON route (being written)."""
from flask import Blueprint

bp = Blueprint("openapi", __name__, url_prefix="/api")
