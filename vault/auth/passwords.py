"""argon2id password hashes (argon2-cffi defaults), rehashed when the parameters change."""
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

hasher = PasswordHasher()
# Verified against when the email is unknown, so both failures take the same time.
_DUMMY = hasher.hash("not a real password")


def hash_password(password):
    return hasher.hash(password)


def verify(password_hash, password):
    try:
        return hasher.verify(password_hash or _DUMMY, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash):
    return hasher.check_needs_rehash(password_hash)
