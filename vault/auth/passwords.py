"""argon2id password hashes (argon2-cffi defaults), rehashed when the parameters change."""
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import g, has_request_context

hasher = PasswordHasher()


@functools.cache  # on first use, not at import: ~90 ms and 64 MiB in every process otherwise
def _dummy():
    """Verified against when the email is unknown, so both failures take the same time."""
    return hasher.hash("not a real password")


def hash_password(password):
    return hasher.hash(password)


def verify(password_hash, password):
    try:
        ok = hasher.verify(password_hash or _dummy(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok and has_request_context():
        g.password_refused = True  # what the sign-in limits count (vault/ratelimit.py), not typos
    return ok


def needs_rehash(password_hash):
    return hasher.check_needs_rehash(password_hash)
