"""Accounts and their server-side sessions."""
import datetime as dt
import hashlib
import secrets

import peewee as pw

from .. import audit
from ..db import Session, User, advisory_lock, write_txn
from ..errors import VaultError
from . import passwords, signup

SESSION_IDLE_LIMIT = dt.timedelta(days=30)  # unused this long, a session is refused
ACCOUNTS_LOCK = 0x7661756C7475  # PostgreSQL's advisory lock for create_user: "vaultu"


class EmailTaken(Exception):
    pass


class ReauthenticationRequired(VaultError):
    code, status = "reauthentication_required", 403
    message = "Enter your account password to confirm this change."


def reauthenticate(user, password, action):
    """For acts a stolen session must not do alone (where a key may go, minting a token): the
    password again, or a 403; a wrong one is audited and counts against the sign-in limit."""
    if not isinstance(password, str) or not password:
        raise ReauthenticationRequired()
    if not passwords.verify(User.get_by_id(user.id).password_hash, password):
        audit.record(user, action, f"user:{user.id}", outcome="refused")
        raise ReauthenticationRequired("The password is wrong; enter your account password to confirm.")


def create_user(email, password, policy=None, invitation=None):
    """The new account, the instance's admin when it is the first, in the teams its email was
    invited to. `policy` is VAULT_SIGNUP for /register (SignupRefused when it does not admit the
    email); None for the command line, the administrator's tool. `invitation` is the code of the
    register link, if it came with one. Argon2 runs before the write
    transaction, and in it one account is made at a time, so two first ones are not both admin."""
    email = email.strip().lower()
    password_hash = passwords.hash_password(password)
    try:
        with write_txn():
            advisory_lock(ACCOUNTS_LOCK)
            if policy is not None:
                signup.admit(policy, email, invitation)
            first = not User.select().exists()
            user = User.create(email=email, password_hash=password_hash, is_admin=first)
            audit.record(user, "user.register", f"user:{user.id}")
            signup.join_invited_teams(user, invitation if policy is not None else None)
    except pw.IntegrityError:
        raise EmailTaken() from None
    return user


def check_password(email, password):
    """The user, or None; an unknown email and a wrong password are indistinguishable."""
    user = User.get_or_none(User.email == (email or "").strip().lower())
    if not passwords.verify(user.password_hash if user else None, password):
        return None
    if passwords.needs_rehash(user.password_hash):
        User.update(password_hash=passwords.hash_password(password)).where(User.id == user.id).execute()
    return user


def session_digest(sid):
    """The Session row's id: the SHA-256 of the cookie's random id, never the id itself."""
    return hashlib.sha256(sid.encode()).hexdigest()


def open_session(user, user_agent, address=""):
    """Returns the random session id for the cookie; the database keeps only its hash."""
    sid = secrets.token_urlsafe(32)
    Session.create(id=session_digest(sid), user=user, user_agent=(user_agent or "")[:255], address=address[:64])
    return sid


def close_session(session_id):
    Session.delete().where(Session.id == session_id).execute()
