"""/api/secrets and /api/providers (placeholder until the provider-secrets issue lands)."""
from flask import Blueprint

bp = Blueprint("secrets_api", __name__, url_prefix="/api")
