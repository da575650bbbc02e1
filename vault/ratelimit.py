"""Limits on password guessing, per client address: RATELIMIT_LOGIN for refused passwords,
RATELIMIT_REGISTER for refused registrations. One Limiter serves the process (one app in
production); each init_app gives it that app's RATELIMIT_STORAGE_URI, so a new app counts afresh."""
from flask import current_app, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(get_remote_address, default_limits=[], strategy="moving-window")
_limited_views = set()


def guarded(setting, counts, methods=("POST",)):
    """Limit a view's writes by the named setting; only the answers `counts` picks use it up."""
    def decorate(view):
        limited = limiter.limit(lambda: current_app.config[setting], methods=list(methods),
                                deduct_when=counts)(view)
        _limited_views.add(limited)
        return limited
    return decorate


def password_refused(response):
    """A refused password (passwords.verify marks it), not a form mistake made with the right one."""
    return g.get("password_refused", False)


def refused(response):
    return response.status_code >= 400


@limiter.request_filter
def _unlimited():
    """The extension's own before_request hook runs on every request; only the guarded views
    have limits, so for every other view it stops here."""
    return current_app.view_functions.get(request.endpoint) not in _limited_views


def init_app(app):
    limiter.init_app(app)
