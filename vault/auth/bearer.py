"""Bearer API tokens on a request: reading the header, checking the token before every view,
and refusing the areas a token must never reach."""
from flask import g, request

from ..errors import Unauthorized, VaultError
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
    row = tokens.authenticate(token)
    if row is None:
        raise Unauthorized("The API token is invalid, revoked or expired.")
    g.api_token = row
    return True


def via_token():
    return g.get("api_token") is not None


def refuse_tokens(what):
    """For areas a token must never reach: a token cannot mint tokens or delete its account."""
    if via_token():
        raise VaultError(f"{what} managed from a signed-in browser session.", "session_required", 403)
