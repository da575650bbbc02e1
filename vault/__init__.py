"""Provider Secrets Vault: create_app() wires settings, database, keyring, auth and blueprints."""
import logging
import os
import time

from flask import Flask, g, redirect, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFProtect
from peewee import OperationalError
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from . import crypto, db, errors, filters, headers, ratelimit, settings, urls

csrf = CSRFProtect()


class StartupError(RuntimeError):
    """The app cannot start with these settings; the message says which one to fix."""


def create_app(config=None):
    instance = (config or {}).get("INSTANCE_PATH") or os.environ.get("VAULT_INSTANCE_PATH") or None
    app = Flask(__name__, instance_path=instance and os.path.abspath(instance),
                template_folder="../templates", static_folder="../static")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings.load(app, config)
    try:
        settings.check_choices(app.config)
        urls.init_app(app)
        crypto.install(app)
        db.init_app(app)  # proves the keyring opens this database before a migration re-encrypts
        ratelimit.init_app(app)
    except ValueError as exc:  # MasterKeyError included: each message names its setting
        raise StartupError(str(exc)) from None
    except OperationalError as exc:  # a missing folder, a server that is down: the driver says which
        raise StartupError(f"DATABASE_URL: the database cannot be opened or brought up to date: {exc}") from None
    errors.init_app(app)
    filters.init_app(app)
    csrf.init_app(app)
    _register_blueprints(app)
    app.before_request(_start_clock)
    app.before_request(_body_first)
    app.before_request(_bearer_or_csrf)
    app.after_request(_security_headers)
    app.add_url_rule("/", "home", lambda: redirect(url_for("secrets.index")))
    from .cli import register as register_cli
    register_cli(app)
    from .v1.app import V1
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/v1": V1(app)})  # /v1 is V1's alone
    return app


def _register_blueprints(app):
    from . import auth, openapi
    from .auth import account
    from .chat import api as chat_api, views as chat_views
    from .models import api as models_api, views as models_views
    from .secrets import api as secrets_api, views as secrets_views
    from .teams import api as teams_api, views as teams_views
    from .tokens import api as tokens_api, views as tokens_views
    auth.init_app(app)
    for module in (secrets_views, secrets_api, models_views, models_api, tokens_views, tokens_api,
                   teams_views, teams_api, chat_views, chat_api, account, openapi):
        app.register_blueprint(module.bp)


def _start_clock():
    g.request_started = time.perf_counter()  # X-Vault-Overhead-Ms counts from here


def _body_first():
    # A client slow to send its body must hold no database connection meanwhile: the body is read
    # (bounded by MAX_CONTENT_LENGTH) before the token or the session is looked up.
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        request.get_data(cache=True)


def _bearer_or_csrf():
    from .auth.bearer import authenticate_bearer
    if authenticate_bearer():
        return
    if request.path.startswith("/api/") and not current_user.is_authenticated:
        return  # neither token nor session: the view's 401 says more than a CSRF refusal would
    csrf.protect()


def _security_headers(response):
    return headers.secure(response, cacheable=request.endpoint == "static")
