"""GET /api/openapi.json: the OpenAPI 3.1 description of every JSON route.
Public: it describes the API and holds no account data."""
import json

from flask import Blueprint, Response

from .openapi_doc import DOCUMENT

bp = Blueprint("openapi", __name__, url_prefix="/api")
_BODY = json.dumps(DOCUMENT, ensure_ascii=False, separators=(",", ":")).encode()  # built once


@bp.get("/openapi.json")
def document():
    return Response(_BODY, mimetype="application/json")
