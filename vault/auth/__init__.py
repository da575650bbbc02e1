"""Who is asking: a browser session (server-side Session row) or a Bearer API token, never both."""
import datetime as dt

from flask import g, redirect, request, session, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_login import LoginManager

from ..db import Session, User, utcnow
from ..errors import Unauthorized, render_error
from .bearer import bearer_token
from .users import SESSION_IDLE_LIMIT, session_digest

login_manager = LoginManager()
login_manager.session_protection = None  # sessions are server-side rows, revoked by deleting them
TOUCH_EVERY = dt.timedelta(minutes=5)


class _Unsaved(SecureCookieSession):
    """The session of a Bearer request: usable, empty, and never written back as a cookie."""


class CookieUnlessBearer(SecureCookieSessionInterface):
    """A Bearer request is the token's alone: its cookie is not even read (which also spares
    /api/chat's path a signature check), and no cookie is set on the answer."""

    def open_session(self, app, req):
        if bearer_token(req) is not None:
            return _Unsaved()
        return super().open_session(app, req)

    def save_session(self, app, session, response):
        if not isinstance(session, _Unsaved):
            super().save_session(app, session, response)


@login_manager.user_loader
def load_from_session(user_id):
    if bearer_token() is not None:  # a Bearer request is the token's alone
        return None
    sid = session.get("sid")
    if not isinstance(sid, str):
        return None
    row = Session.select(Session, User).join(User).where(Session.id == session_digest(sid)).first()
    now = utcnow()
    if row is None or str(row.user_id) != user_id or now - row.last_seen_at > SESSION_IDLE_LIMIT:
        return None
    if now - row.last_seen_at > TOUCH_EVERY:
        Session.update(last_seen_at=now).where(Session.id == row.id).execute()
    g.session_id = row.id
    return row.user


@login_manager.request_loader
def load_from_token(req):
    row = g.get("api_token")
    return row.user if row is not None else None


@login_manager.unauthorized_handler
def unauthorized():
    if request.path.startswith("/api/"):
        return render_error("unauthorized", Unauthorized.message, 401)
    if request.headers.get("HX-Request") == "true":
        return "", 401, {"HX-Redirect": url_for("auth.login", signed_out=1)}  # only signed-in pages use htmx
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def init_app(app):
    app.session_interface = CookieUnlessBearer()
    login_manager.init_app(app)
    from .views import bp
    app.register_blueprint(bp)
