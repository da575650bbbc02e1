"""Bearer API tokens on a request: reading the header, checking the token and its scope before
every view, and refusing the areas a token must never reach."""
from flask import g, request
from flask_login import current_user

from ..errors import Unauthorized, VaultError
from ..gateway.core import Principal
from ..tokens import service as tokens


def bearer_token(req=None):
    return bearer_of((req or request).headers.get("Authorization", ""))


def bearer_of(authorization):
    """The token of an Authorization header value, None when it is not a Bearer one."""
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def authenticate_bearer():
    """Runs before every view: a Bearer request is decided here, by the token alone."""
    g.pop("api_token", None)
    token = bearer_token()
    if token is None:
        return False
    found = tokens.authenticate(token)
    if found is None:
        raise Unauthorized("The API token is invalid, revoked or expired.")
    g.api_token = found
    needed = scope_needed(request.method, request.url_rule)
    if needed is not None and not tokens.allows(found, needed):
        raise InsufficientScope(_refusal(found, needed))
    return True


class InsufficientScope(VaultError):
    code, status = "insufficient_scope", 403


# Which scope a Bearer request needs, by route (README, API tokens). /v1 is not Flask's: the
# gateway's own app (vault/v1) takes a token of any scope, as every scope grants chat.
CHAT_ROUTES = {("POST", "/api/chat"), ("GET", "/api/models"), ("GET", "/api/providers"),
               ("GET", "/api/usage"), ("GET", "/api/teams"), ("GET", "/api/teams/<int:team_id>"),
               ("GET", "/api/teams/<int:team_id>/secrets")}  # a member sees what they use
NO_SCOPE = {"/api/openapi.json", "/static/<path:filename>"}  # public: a token adds nothing
SESSION_ONLY = ("/api/tokens", "/tokens", "/account")  # they refuse every token (session_required)


def scope_needed(method, rule):
    """"chat", "manage", or None where no scope decides: no such route (its 404 or 405 says
    more), the public ones and the session-only areas. Every other route and page needs manage."""
    if rule is None or rule.rule in NO_SCOPE or rule.rule.startswith(SESSION_ONLY):
        return None
    method = "GET" if method == "HEAD" else method
    if (method, rule.rule) in CHAT_ROUTES:
        return "chat"
    return "manage"


def _refusal(token, needed):
    held = tokens.scopes_of(token)
    has = f"the {' and '.join(held)} scope{'s' if len(held) > 1 else ''}" if held else "no scope"
    return f"This token has {has}; {request.method} {request.path[:100]} needs {needed}."


def principal():
    """Who is asking, for the gateway: the request's token (and its user), else the session's user."""
    token = g.get("api_token")
    return Principal(token.user, token) if token is not None else Principal(current_user._get_current_object())


def via_token():
    return g.get("api_token") is not None


def refuse_tokens(what):
    """For areas a token must never reach: a token cannot mint tokens or delete its account."""
    if via_token():
        raise VaultError(f"{what} managed from a signed-in browser session.", "session_required", 403)
