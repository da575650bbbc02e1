"""Errors with a code and a status. One handler renders each as JSON (API), a small alert
fragment (htmx) or a page, and never shows a traceback or a stored key."""
import logging
import traceback

import peewee as pw
from playhouse.pool import MaxConnectionsExceeded
from flask import jsonify, make_response, redirect, render_template, request, url_for
from markupsafe import escape
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)
TOO_DEEP = "The request body is JSON nested too deeply to be read."


class VaultError(Exception):
    code = "bad_request"
    status = 400
    message = "The request could not be processed."

    def __init__(self, message=None, code=None, status=None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.code = code or self.code
        self.status = status or self.status

    def to_dict(self):
        return {"code": self.code, "message": self.message}


class DecryptError(Exception):
    """A stored value did not open: wrong master key, tampered value or value from another row.
    `row` names the row ("openai provider secret"), never the key. Not a VaultError: no view
    answers it in place (a test-connection box would hide it); describe() makes it a 500 and
    the operator's log line."""

    def __init__(self, row):
        self.row = row
        super().__init__(f"stored key for {row} could not be decrypted")


class BadRequest(VaultError):
    code, status = "invalid_request", 400


class NotFound(VaultError):
    code, status, message = "not_found", 404, "Not found."


class Conflict(VaultError):
    code, status = "conflict", 409


class VersionConflict(Conflict):
    """Another tab or script saved first: an UPDATE … WHERE version = ? found nothing to change."""
    code = "version_conflict"

    def __init__(self, what, current):
        self.current = current
        super().__init__(f"The {what} changed since you read it: it is now version {current}. "
                         "Reload it and try again.")


class Unauthorized(VaultError):
    code, status, message = "unauthorized", 401, "Sign in, or send Authorization: Bearer <api token>."


HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
              429: "rate_limited"}


def wants_json():
    path = request.path
    return path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def render_error(code, message, status, field=None):
    if wants_json():
        return json_error(code, message, status, field)
    if request.headers.get("HX-Request") == "true":
        return render_template("_error_fragment.html", message=message, status=status), status
    try:
        return render_template("error.html", message=message, status=status), status
    except Exception:  # the layout needs the user and the database; this page must not
        return f"<!doctype html><title>{status}</title><p>{escape(message)}</p>", status


def json_error(code, message, status, field=None):
    """The error shape; `field` names the body field at fault, when one is."""
    error = {"code": code, "message": message, **({"field": field} if field else {})}
    response = jsonify({"error": error})
    response.status_code = status
    return response


def describe(exc, where):
    """(code, message, status) for any exception but Werkzeug's HTTP ones, logging what an
    operator must see. `where` ("POST /path") is only logged."""
    if isinstance(exc, VaultError):
        return exc.code, exc.message, exc.status
    if isinstance(exc, DecryptError):
        log.error("stored key for %s is unreadable (wrong master key or altered row)", exc.row)
        return ("stored_key_unreadable", f"The stored key for {exc.row} could not be decrypted: the master "
                "key does not match or the stored value was altered. Enter the key again to replace it.", 500)
    if isinstance(exc, RecursionError):  # json.loads of "[[[[…": every JSON route says so alike
        return "invalid_json", TOO_DEEP, 400
    if isinstance(exc, UnicodeError):  # e.g. a lone surrogate ("\ud800") in JSON: valid JSON, not storable text
        return "invalid_text", "The request contains text that is not valid Unicode.", 400
    if isinstance(exc, pw.DataError):  # PostgreSQL refuses NUL bytes in text and out-of-range numbers
        return ("invalid_text", "The request contains a value that cannot be stored (a NUL byte, or a "
                "number out of range).", 400)
    if isinstance(exc, (pw.OperationalError, pw.InterfaceError, MaxConnectionsExceeded)):
        log.error("database unavailable: %s", type(exc).__name__)
        return "database_unavailable", "The database is unavailable; try again shortly.", 503
    # Frames only: an exception's message may quote data we must not log.
    log.error("unhandled %s on %s\n%s", type(exc).__name__, where, "".join(traceback.format_tb(exc.__traceback__)))
    return "internal_error", "Something went wrong on our side.", 500


def _http_message(exc):
    if exc.code == 413:
        limit = request.max_content_length or 0
        return f"The request body is larger than the {limit // 1024} KiB this server accepts."
    if exc.code == 429:
        return "Too many attempts; wait a minute and try again."
    return exc.description or exc.name


def init_app(app):
    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        if _signed_out():
            return _to_sign_in()
        return render_error("csrf_failed", "The CSRF token is missing or stale; reload the page.", 403)

    @app.errorhandler(HTTPException)
    def http_error(exc):
        response = make_response(render_error(HTTP_CODES.get(exc.code, "http_error"), _http_message(exc),
                                              exc.code))
        for name, value in exc.get_headers():  # e.g. Allow on a 405, Retry-After on a 429
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    # Everything else, ours included; Flask picks the handler of the closest class, so the two
    # above still answer their own.
    app.register_error_handler(Exception, _render_described)


def _signed_out():
    """A page's action whose session is gone (signed out in another tab, or idle too long): its
    CSRF token died with the session, and "sign in again" says more than "stale token"."""
    from flask_login import current_user
    return (not current_user.is_authenticated and not request.path.startswith("/api/")
            and request.endpoint not in ("auth.login", "auth.register"))


def _to_sign_in():
    login = url_for("auth.login", signed_out=1)
    if request.headers.get("HX-Request") == "true":
        return "", 401, {"HX-Redirect": login}
    return redirect(login)


def _render_described(exc):
    field = getattr(exc, "field", None) if isinstance(exc, VaultError) else None
    response = make_response(render_error(*describe(exc, f"{request.method} {request.path}"), field))
    response.headers.extend(getattr(exc, "headers", ()))  # a provider's Retry-After
    return response
