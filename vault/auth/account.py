"""/account: the signed-in user's sessions, password change, "sign out everywhere" and account
deletion. Session only: an API token can neither read nor change any of it."""
import hashlib

import peewee as pw
from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, logout_user

from .. import audit
from ..gateway import usage
from ..db import (ApiToken, AuditEvent, LLMModel, ProviderSecret, Session, UsageRecord, User,
                  database, utcnow, write_txn)
from ..errors import NotFound, Unauthorized
from ..htmx import fragment, is_htmx, page_or_fragment, removed
from ..ratelimit import guarded, password_refused
from ..teams import service as teams
from . import passwords
from .account_forms import DeleteAccountForm, PasswordForm
from .bearer import refuse_tokens
from .users import SESSION_IDLE_LIMIT

bp = Blueprint("account", __name__, url_prefix="/account")

# Everything a user owns. Deleted explicitly rather than left to ON DELETE CASCADE, so SQLite and
# PostgreSQL behave alike whatever their foreign-key settings, and all of it in one transaction.
OWNED = (ProviderSecret, LLMModel, ApiToken, Session, UsageRecord, AuditEvent)
WRONG_PASSWORD = "The current password is wrong."
PASSWORD_FORM = "account/_partials/password_form.html"
DELETE_FORM = "account/_partials/delete_form.html"
SESSION_ROWS = "account/_partials/session_rows.html"


def handle(session_id):
    """A session's name in pages and URLs; the row id (the hash the cookie is checked against)
    never leaves the server."""
    return hashlib.sha256(f"session-handle|{session_id}".encode()).hexdigest()[:20]


def active_sessions(user):
    since = utcnow() - SESSION_IDLE_LIMIT  # older rows are refused by the user loader anyway
    return list(Session.owned_by(user).where(Session.last_seen_at >= since)
                .order_by(Session.last_seen_at.desc(), Session.created_at.desc()))


def end_sessions(user, keep=None):
    """Deletes the user's sessions but `keep`; a cookie whose row is gone is worthless."""
    query = Session.delete().where(Session.user == user)
    if keep is not None:
        query = query.where(Session.id != keep)
    return query.execute()


def revoke_tokens(user, why):
    """Revokes every API token of the user not yet revoked, each audited; returns how many. A
    token made from a stolen session would otherwise outlive the password change or sign-out
    meant to end it."""
    live = list(ApiToken.owned_by(user).where(ApiToken.revoked_at.is_null()))
    if live:
        ApiToken.update(revoked_at=utcnow()).where(ApiToken.id.in_([t.id for t in live])).execute()
    for token in live:
        audit.record(user, "token.revoke", f"token:{token.prefix}", detail=why)
    return len(live)


def keeps_tokens():
    """Tokens go unless the page's box was unticked: a post without the box (a script, a page
    from before it) revokes them too."""
    return "revoke_tokens_offered" in request.form and "revoke_tokens" not in request.form


def replace_password(user, current, new, keep, revoke=True):
    """How many API tokens were revoked (with `revoke`) once the new hash is stored and every
    session but `keep` has ended; None for a wrong password. Argon2 runs before the write
    transaction, so the write lock is held for milliseconds only."""
    if not passwords.verify(user.password_hash, current):
        audit.record(user, "user.password_change", f"user:{user.id}", outcome="refused")
        return None
    new_hash = passwords.hash_password(new)
    with write_txn():
        row = _locked(user, keep)
        # Changed since this request read it (another tab, a rehash at login): check again.
        if row.password_hash != user.password_hash and not passwords.verify(row.password_hash, current):
            audit.record(user, "user.password_change", f"user:{user.id}", outcome="refused")
            return None
        User.update(password_hash=new_hash).where(User.id == user.id).execute()
        end_sessions(user, keep=keep)
        audit.record(user, "user.password_change", f"user:{user.id}")
        return revoke_tokens(user, "password changed") if revoke else 0


def remove_account(user, password, current_session):
    """Deletes the user and all they own, or nothing (False: wrong password). Shared catalog
    models have user NULL, which `user == …` never matches."""
    if not passwords.verify(user.password_hash, password):
        audit.record(user, "user.delete", f"user:{user.id}", outcome="refused")
        return False
    usage.flush()  # what this process counted for the user is written now, so it goes too
    with write_txn():
        _locked(user, current_session)
        teams.on_account_deletion(user)  # LastOwner, changing nothing, if a team would have none
        for model in OWNED:
            model.delete().where(model.user == user).execute()
        User.delete().where(User.id == user.id).execute()
        # The user's own audit rows went with them (they hold IP addresses); the operator keeps
        # one anonymous line that account N was deleted, with no email.
        audit.record(None, "user.delete", f"user:{user.id}")
    return True


def _locked(user, session_id):
    """The user's row, locked to the end of the transaction (SQLite's IMMEDIATE already is);
    401 when the user or this session ended meanwhile, e.g. "Sign out everywhere" in another tab."""
    query = User.select().where(User.id == user.id)
    if not isinstance(database.obj, pw.SqliteDatabase):
        query = query.for_update()
    row = query.first()
    if row is None or not Session.select().where(Session.id == session_id,
                                                 Session.user == user).exists():
        raise Unauthorized("This session has ended; sign in again.")
    return row


def holdings(user):
    """What deleting the account takes with it, for the danger zone's sentence."""
    return {"secrets": ProviderSecret.owned_by(user).count(), "teams": teams.sole_member_of(user),
            "models": LLMModel.owned_by(user).count(),
            "tokens": ApiToken.owned_by(user).where(ApiToken.revoked_at.is_null()).count()}


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chromium/", "Chromium"),
             ("Chrome/", "Chrome"), ("Safari/", "Safari"), ("curl/", "curl"), ("python-", "Python"))
_SYSTEMS = (("Windows", "Windows"), ("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"),
            ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))


def device(user_agent):
    """"Firefox on Linux" from a User-Agent header; the page shows the whole header on hover."""
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), None)
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or user_agent[:40] or "Unknown device"


@bp.before_request
@login_required
def session_only():
    refuse_tokens("The account is")


@bp.context_processor
def helpers():
    return {"session_handle": handle, "device": device, "current_session": g.get("session_id")}


@bp.get("")
def index():
    return page_or_fragment("account/index.html", SESSION_ROWS, **_page())


@bp.post("/password")
@guarded("RATELIMIT_LOGIN", counts=password_refused)  # a stolen cookie must not guess the password freely
def change_password():
    form = PasswordForm()
    if form.validate_on_submit():
        keep = keeps_tokens()
        revoked = replace_password(current_user, form.current_password.data, form.new_password.data,
                                   g.session_id, revoke=not keep)
        if revoked is not None:
            message = "Password changed. Your other sessions are signed out. " + _tokens_note(
                None if keep else revoked)
            return _done(PASSWORD_FORM, message, trigger="sessions-changed", revoked_tokens=revoked,
                         password_form=PasswordForm(formdata=None), holdings=holdings(current_user))
        form.current_password.errors.append(WRONG_PASSWORD)
    return _invalid(PASSWORD_FORM, password_form=form)


@bp.post("/sessions/<handle_>/end")
def end_session(handle_):
    row = next((s for s in Session.owned_by(current_user) if handle(s.id) == handle_), None)
    if row is None:
        raise NotFound()  # another user's session looks exactly like a missing one
    with database.atomic():
        Session.delete().where(Session.id == row.id, Session.user == current_user).execute()
        audit.record(current_user, "session.end", f"session:{handle_}")
    if row.id == g.session_id:
        return _leave("auth.login", "You are signed out.")
    if not is_htmx():
        return redirect(url_for("account.index"))
    return removed("sessions-changed")


@bp.post("/sessions/end-others")
def end_other_sessions():
    with database.atomic():
        ended = end_sessions(current_user, keep=g.session_id)
        audit.record(current_user, "user.signout_others", f"user:{current_user.id}")
        revoked = None if keeps_tokens() else revoke_tokens(current_user, "signed out everywhere else")
    message = (f"Signed out {ended} other session{'s' if ended != 1 else ''}." if ended
               else "There were no other sessions.")
    return _done(SESSION_ROWS, f"{message} {_tokens_note(revoked)}", sessions=active_sessions(current_user),
                 revoked_tokens=revoked, holdings=holdings(current_user))


@bp.post("/sessions/end-all")
def end_all_sessions():
    with database.atomic():
        end_sessions(current_user)
        audit.record(current_user, "user.signout_all", f"user:{current_user.id}")
        revoked = None if keeps_tokens() else revoke_tokens(current_user, "signed out everywhere")
    return _leave("auth.login", f"You are signed out everywhere. {_tokens_note(revoked)}")


@bp.post("/delete")
@guarded("RATELIMIT_LOGIN", counts=password_refused)  # it takes the current password too
def delete():
    form = DeleteAccountForm()
    if form.validate_on_submit():
        if form.confirm_email.data.strip().lower() != current_user.email:
            form.confirm_email.errors.append("Type this account's email exactly as shown above.")
        else:
            try:
                if remove_account(current_user, form.confirm_password.data, g.session_id):
                    return _leave("auth.register", "Your account and everything in it have been deleted.")
                form.confirm_password.errors.append(WRONG_PASSWORD)
            except teams.LastOwner as refused:
                form.confirm_email.errors.append(refused.message)
    return _invalid(DELETE_FORM, delete_form=form)


def _tokens_note(revoked):
    """What happened to the API tokens: None when the person chose to keep them."""
    if revoked is None:
        return "Your API tokens still work."
    if not revoked:
        return "You had no API tokens to revoke."
    return f"Revoked {revoked} API token{'s' if revoked != 1 else ''}."


def _page(**ctx):
    ctx.setdefault("password_form", PasswordForm(formdata=None))
    ctx.setdefault("delete_form", DeleteAccountForm(formdata=None))
    return dict(ctx, sessions=active_sessions(current_user), holdings=holdings(current_user))


def _done(partial, message, trigger=None, **ctx):
    """htmx gets the fragment back with a note; a plain form post goes back to the page."""
    if not is_htmx():
        flash(message, "success")
        return redirect(url_for("account.index"))
    return fragment(partial, trigger=trigger, notice=message, **ctx)


def _invalid(partial, **ctx):
    if is_htmx():
        return render_template(partial, **ctx), 422
    return render_template("account/index.html", **_page(**ctx)), 422


def _leave(endpoint, message):
    """This session's row is gone: forget the cookie and go where a signed-out person goes."""
    logout_user()
    session.clear()
    flash(message, "info")
    if is_htmx():  # htmx would swap a 302's target into the page; HX-Redirect navigates
        return "", 200, {"HX-Redirect": url_for(endpoint)}
    return redirect(url_for(endpoint))
