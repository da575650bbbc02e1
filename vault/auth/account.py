"""/account: password change, sign out everywhere, delete the account (being written)."""
from flask import Blueprint

bp = Blueprint("account", __name__, url_prefix="/account")
