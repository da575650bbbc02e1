"""API tokens: issued once, stored only as a SHA-256, revocable, optionally expiring."""
import datetime as dt
import hashlib
import secrets

from .. import audit
from ..db import ApiToken, User, as_datetime, database, iso, utcnow
from ..errors import BadRequest, NotFound

PREFIX = "psv_"
TOUCH_EVERY = dt.timedelta(minutes=1)


def digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


def issue(user, name, expires_in_days=None):
    """Returns (row, token); the token is never stored and cannot be shown again."""
    name = (name or "").strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise BadRequest("A token needs a name of 1 to 100 printable characters.")
    token = PREFIX + secrets.token_urlsafe(32)
    expires = utcnow() + dt.timedelta(days=expires_in_days) if expires_in_days else None
    with database.atomic():
        row = ApiToken.create(user=user, name=name, token_hash=digest(token),
                              prefix=token[:12], expires_at=expires)
        audit.record(user, "token.create", f"token:{row.prefix}")
    return row, token


def revoke(user, token_id):
    if not 0 < token_id < 2**63:  # SQLite cannot even bind a larger one
        raise NotFound()
    with database.atomic():
        row = ApiToken.get_owned_or_404(user, ApiToken.id == token_id)
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            row.save()
            audit.record(user, "token.revoke", f"token:{row.prefix}")
    return row


def listed(user):
    return list(ApiToken.owned_by(user).order_by(ApiToken.created_at.desc(), ApiToken.id.desc()))


# Runs on every Bearer request: one statement written once, not rebuilt by the ORM each time.
# What admit() reads, in its order; the chat lane's statement (resolver.py) selects it too.
COLUMNS = "t.id, t.prefix, t.expires_at, t.last_used_at, u.id, u.email"
_LOOKUP = (f"SELECT {COLUMNS} FROM api_token t "
           'JOIN "user" u ON u.id = t.user_id WHERE t.token_hash = {p} AND t.revoked_at IS NULL')
_TOUCH = "UPDATE api_token SET last_used_at = {p} WHERE id = {p}"


def authenticate(token):
    """The token's row (with its user), or None when it is unknown, revoked or expired."""
    return admit(database.execute_sql(_LOOKUP.format(p=database.param), (digest(token),)).fetchone())


def admit(found):
    """The row for a live token's looked-up (id, prefix, expires_at, last_used_at, user id,
    email), else None; last_used_at is written at most once a minute."""
    if found is None:
        return None
    token_id, prefix, expires, used, user_id, email = found
    now = utcnow()
    if expires is not None and as_datetime(expires) <= now:
        return None
    if used is None or now - as_datetime(used) >= TOUCH_EVERY:
        database.execute_sql(_TOUCH.format(p=database.param), (now, token_id))
    return ApiToken(id=token_id, prefix=prefix, user=User(id=user_id, email=email))


def as_json(row):
    return {"id": row.id, "name": row.name, "prefix": row.prefix, "created_at": iso(row.created_at),
            "last_used_at": iso(row.last_used_at), "revoked_at": iso(row.revoked_at),
            "expires_at": iso(row.expires_at)}
