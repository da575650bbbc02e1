"""/api/models: the JSON twin of the models page (README, Models)."""
from flask import Blueprint, jsonify
from flask_login import current_user, login_required

from ..validate import json_body
from . import service

bp = Blueprint("models_api", __name__, url_prefix="/api/models")


@bp.before_request
@login_required
def signed_in():
    pass


def _one(model, status=200):
    return jsonify(model=service.as_json(model, service.secrets_by_provider(current_user))), status


@bp.get("")
def index():
    secrets = service.secrets_by_provider(current_user)
    return jsonify(models=[service.as_json(m, secrets) for m in service.listed(current_user)])


@bp.post("")
def create():
    return _one(service.create(current_user, json_body()), 201)


@bp.get("/<model_uuid>")
def show(model_uuid):
    return _one(service.visible(current_user, model_uuid))


@bp.patch("/<model_uuid>")
def update(model_uuid):
    return _one(service.update(current_user, model_uuid, json_body()))


@bp.delete("/<model_uuid>")
def delete(model_uuid):
    service.delete(current_user, model_uuid)
    return "", 204


@bp.post("/test")
def test_unsaved():
    return jsonify(service.test_unsaved(current_user, json_body()))


@bp.post("/<model_uuid>/test")
def test_saved(model_uuid):
    return jsonify(service.test_saved(current_user, model_uuid))
