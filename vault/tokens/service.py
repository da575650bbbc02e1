"""API tokens: issued once, stored only as a SHA-256, revocable, optionally expiring."""
import datetime as dt
import hashlib
import secrets

from .. import audit
from ..db import ApiToken, User, database, utcnow
from ..errors import BadRequest

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
    with database.atomic():
        row = ApiToken.get_owned_or_404(user, ApiToken.id == token_id)
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            row.save()
            audit.record(user, "token.revoke", f"token:{row.prefix}")
    return row


def listed(user):
    return list(ApiToken.owned_by(user).order_by(ApiToken.created_at.desc(), ApiToken.id.desc()))


def authenticate(token):
    """The token's user, or None when it is unknown, revoked or expired."""
    row = (ApiToken.select(ApiToken, User).join(User)
           .where(ApiToken.token_hash == digest(token), ApiToken.revoked_at.is_null())
           .first())
    now = utcnow()
    if row is None or (row.expires_at and row.expires_at <= now):
        return None
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
        ApiToken.update(last_used_at=now).where(ApiToken.id == row.id).execute()
    return row


def as_json(row):
    return {"id": row.id, "name": row.name, "prefix": row.prefix, "created_at": iso(row.created_at),
            "last_used_at": iso(row.last_used_at), "revoked_at": iso(row.revoked_at),
            "expires_at": iso(row.expires_at)}


def iso(value):
    return value.isoformat() + "Z" if value else None
