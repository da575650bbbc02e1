"""Teams: who belongs, in which role, and what owners may do (README, Teams). The one service
behind the /teams pages and /api/teams. A team's secrets are written by vault/secrets/service.py
and its models by vault/models/service.py; this module decides who may ask them to.

Someone who is not a member gets the same 404 for every team id, whether or not it exists; a
member who asks for an owner's act gets a 403 (they can see the team, so its existence is no
secret to them). Every act is audited with the acting user, under the subject "team:<id>"."""
import hashlib
import secrets

import peewee as pw
from flask import current_app, url_for

from .. import audit
from ..db import AuditEvent, Invitation, LLMModel, Membership, Team, TeamSecret, User, database, iso, write_txn
from ..errors import Conflict, NotFound, VaultError
from ..secrets.service import Keys
from ..validate import EMAIL_HINT, FieldError, checked_str, plausible_email

ROLES = ("owner", "member")
HISTORY_LIMIT = 200


class NotOwner(VaultError):
    code, status = "not_team_owner", 403


class LastOwner(Conflict):
    code = "last_owner"


# --- who is asking ------------------------------------------------------------------------

def membership(user, team_id):
    """The user's membership of the team, with the team; 404 for anyone else."""
    found = None if not fits(team_id) else (Membership.select(Membership, Team).join(Team)
             .where(Membership.user == user, Membership.team == team_id).first())
    if found is None:
        raise NotFound("No such team.")
    return found


def require_owner(user, team_id, what):
    """The membership, when the user is one of the team's owners."""
    found = membership(user, team_id)
    if found.role != "owner":
        raise NotOwner(f"Only the team's owners can {what}.")
    return found


def keys(user, team_id, owner=False):
    """The team's secrets as vault/secrets/service.py takes them, the user acting on them."""
    found = require_owner(user, team_id, "change the team's secrets") if owner else membership(user, team_id)
    return Keys(user, found.team, found.role == "owner")


# --- reads --------------------------------------------------------------------------------

def mine(user):
    """The user's memberships, each with its team and the team's member count, by team name."""
    count = (Membership.select(pw.fn.COUNT(Membership.id)).where(Membership.team == Team.id))
    return list(Membership.select(Membership, Team, count.alias("members")).join(Team)
                .where(Membership.user == user).order_by(Team.name))


def members(team):
    return list(Membership.select(Membership, User).join(User)
                .where(Membership.team == team).order_by(Membership.role != "owner", User.email))


def invitations(team):
    return list(Invitation.select().where(Invitation.team == team).order_by(Invitation.email))


def history(user, team_id):
    """The team's trail, newest first: its own acts and those on its members, secrets and
    models. Only from its own creation on: SQLite may give a deleted team's id to a new one, and
    the new team must not read the old one's trail. Audit rows only grow in id, so the newest
    "team.create" of this id is where this team's trail starts."""
    team = membership(user, team_id).team
    prefix = f"team:{team.id}"
    start = (AuditEvent.select(pw.fn.MAX(AuditEvent.id))
             .where(AuditEvent.subject == prefix, AuditEvent.action == "team.create").scalar() or 0)
    return list(AuditEvent.select(AuditEvent, User.email.alias("by")).join(User, pw.JOIN.LEFT_OUTER)
                .where((AuditEvent.subject == prefix) | AuditEvent.subject.startswith(prefix + ":"),
                       AuditEvent.id >= start)
                .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(HISTORY_LIMIT).objects())


# --- writes -------------------------------------------------------------------------------

def create(user, name):
    """A new team with the user as its owner."""
    name = clean_name(name)
    try:
        with write_txn():
            team = Team.create(name=name)
            Membership.create(team=team, user=user, role="owner")
            _record(user, team.id, "team.create", detail=name)
    except pw.IntegrityError:
        raise FieldError("name", f"A team named “{name}” exists already; choose another name.",
                         "team_exists", 409) from None
    return team


def delete(user, team_id):
    """The team, its secrets, models and memberships, at once: members' next requests fail."""
    team = require_owner(user, team_id, "delete the team").team
    with write_txn():
        Team.delete().where(Team.id == team.id).execute()  # the rest goes with it (ON DELETE CASCADE)
        _record(user, team.id, "team.delete", detail=team.name)


def add_member(user, team_id, email, role):
    """An account joins at once. An email with no account is invited under VAULT_SIGNUP=invite
    (it joins when it registers); otherwise it is a 404 naming the email field."""
    team = require_owner(user, team_id, "add members").team
    email, role = clean_email(email), clean_role(role)
    invitee = User.get_or_none(User.email == email)
    if invitee is None:
        return _invite(user, team, email, role)
    try:
        with write_txn():
            joined = Membership.create(team=team, user=invitee, role=role)
            _record(user, team.id, "member.add", invitee.id, detail=f"{email} as {role}")
    except pw.IntegrityError:
        raise FieldError("email", f"{email} is a member of this team already.", "already_member", 409) from None
    joined.user = invitee
    return joined


def _invite(user, team, email, role):
    if current_app.config["VAULT_SIGNUP"] != "invite":
        raise FieldError("email", f"No account uses {email}. Ask them to register, then add them.",
                         "unknown_email", 404)
    if Invitation.select().where(Invitation.team == team, Invitation.email == email).exists():
        raise FieldError("email", f"{email} is invited already.", "already_invited", 409)
    code = secrets.token_urlsafe(24)
    try:
        with write_txn():
            invitation = Invitation.create(team=team, email=email, role=role, invited_by=user,
                                           code_hash=code_digest(code))
            _record(user, team.id, "member.invite", detail=f"{email} as {role}")
    except pw.IntegrityError:
        raise FieldError("email", f"{email} is invited already.", "already_invited", 409) from None
    invitation.code = code  # shown once, to the owner, to pass on; never stored
    return invitation


def code_digest(code):
    return hashlib.sha256(code.encode("utf-8", "replace")).hexdigest()


def cancel_invitation(user, team_id, invitation_id):
    team = require_owner(user, team_id, "cancel invitations").team
    with write_txn():
        invitation = fits(invitation_id) and Invitation.get_or_none(Invitation.id == invitation_id,
                                                                    Invitation.team == team)
        if not invitation:
            raise NotFound("No such invitation.")
        invitation.delete_instance()
        _record(user, team.id, "member.uninvite", detail=invitation.email)


def change_role(user, team_id, member_id, role):
    """Owners change anyone's role; the team keeps at least one owner."""
    team = require_owner(user, team_id, "change roles").team
    role = clean_role(role)
    with write_txn():
        target = _member(team, member_id)
        if target.role != role:
            Membership.update(role=role).where(Membership.id == target.id).execute()
            _keep_an_owner(team, "An owner cannot step down while they are the team's only owner: make "
                                 "another member an owner first.")
            _record(user, team.id, "member.role", member_id, detail=f"{target.user.email} as {role}")
    target.role = role
    return target


def remove_member(user, team_id, member_id):
    """Owners remove anyone, members themselves (leaving); their next request is refused."""
    found = membership(user, team_id)
    if found.role != "owner" and member_id != user.id:
        raise NotOwner("Only the team's owners can remove other members; you can leave the team.")
    team = found.team
    with write_txn():
        target = _member(team, member_id)
        Membership.delete().where(Membership.id == target.id).execute()
        _keep_an_owner(team, "The team's only owner cannot leave: make another member an owner first, "
                             "or delete the team.")
        _record(user, team.id, "member.remove", member_id, detail=target.user.email)


def on_account_deletion(user):
    """Inside the account's deletion: the teams it is the only member of go with it; a team it
    is the only owner of, with other members, stops it (LastOwner), as leaving would. Its acts
    stay in the teams' trails, unnamed (the rows held its address and are owned by it)."""
    _lock(Team.id.in_(_joined(user)))  # as a role change does: an owner stepping down meanwhile waits
    owned = _owned_teams(user)
    stuck = [team for team, members, owners in owned if members > 1 and owners == 1]
    if stuck:
        names = ", ".join(t.name for t in Team.select().where(Team.id.in_(stuck)).order_by(Team.name))
        raise LastOwner(f"You are the only owner of {names}: make another member an owner, or delete "
                        "the team, first.")
    alone = [team for team, members, _ in owned if members == 1]
    for team in Membership.select(Membership.team).where(Membership.user == user, Membership.team.not_in(alone)):
        _record(None, team.team_id, "member.remove", user.id, detail="their account was deleted")
    # their acts stay in the trails, unnamed: neither the row's user and address, nor their email in a detail
    AuditEvent.update(user=None, ip=None).where(AuditEvent.user == user,
                                                AuditEvent.subject.startswith("team:")).execute()
    AuditEvent.update(detail=pw.fn.REPLACE(AuditEvent.detail, user.email, "a deleted account")).where(
        AuditEvent.subject.startswith("team:"), AuditEvent.detail.contains(user.email)).execute()
    Team.delete().where(Team.id.in_(alone)).execute()


def sole_member_of(user):
    """How many teams would go with the account: those it is the only member of."""
    return sum(members == 1 for _, members, _ in _owned_teams(user))


def _joined(user):
    return Membership.select(Membership.team).where(Membership.user == user)


def _owned_teams(user):
    """(team id, members, owners) of every team the user owns."""
    owned = Membership.select(Membership.team).where(Membership.user == user, Membership.role == "owner")
    owners = pw.fn.SUM(pw.Case(None, [(Membership.role == "owner", 1)], 0))
    rows = (Membership.select(Membership.team, pw.fn.COUNT(Membership.id), owners)
            .where(Membership.team.in_(owned)).group_by(Membership.team).tuples())
    return [(team, members, int(owned_by)) for team, members, owned_by in rows]


def _member(team, member_id):
    """The team's membership of that user, locked until the transaction ends where the database
    can (SQLite's write lock already serializes writers)."""
    _lock(Team.id == team.id)
    target = fits(member_id) and (Membership.select(Membership, User).join(User)
              .where(Membership.team == team, Membership.user == member_id).first())
    if not target:
        raise NotFound("No such member of this team.")
    return target


def _lock(which):
    """Two owners stepping down at once must not both see the other still owner: on PostgreSQL
    each change first takes the row locks of the teams `which` selects (in id order, so two
    changes never wait on each other), so they take turns."""
    if not isinstance(database.obj, pw.SqliteDatabase):
        Team.select(Team.id).where(which).order_by(Team.id).for_update().execute()


def _keep_an_owner(team, message):
    """Inside the change's transaction: raising rolls it back."""
    if not Membership.select().where(Membership.team == team, Membership.role == "owner").exists():
        raise LastOwner(message)


def _record(user, team_id, action, member_id=None, **fields):
    subject = f"team:{team_id}" if member_id is None else f"team:{team_id}:member:{member_id}"
    audit.record(user, action, subject, **fields)


# --- validation ---------------------------------------------------------------------------

def fits(row_id):
    """An id the database can hold: a larger number from a URL or a body is no row, not an error."""
    return isinstance(row_id, int) and not isinstance(row_id, bool) and 0 < row_id < 2**31

def clean_name(value):
    if not isinstance(value, str) or not value.strip():
        raise FieldError("name", "'name' is required and must be a non-empty string.")
    return checked_str("name", value.strip(), 100)


def clean_email(value):
    if not isinstance(value, str) or not value.strip():
        raise FieldError("email", "'email' is required and must be a non-empty string.")
    email = checked_str("email", value.strip().lower(), 254)
    if not plausible_email(email):
        raise FieldError("email", EMAIL_HINT)
    return email


def clean_role(value):
    if value not in ROLES:
        raise FieldError("role", "'role' is \"owner\" or \"member\".", "invalid_role")
    return value


# --- JSON (README, Teams) -----------------------------------------------------------------

def team_json(found, member_count=None):
    """A membership as the asking user sees the team: its id, name and their role."""
    team = found.team
    return {"id": team.id, "name": team.name, "role": found.role, "created_at": iso(team.created_at),
            "member_count": member_count if member_count is not None else found.members}


def member_json(found):
    return {"user_id": found.user_id, "email": found.user.email, "role": found.role,
            "joined_at": iso(found.created_at)}


def invitation_json(invitation):
    """With `link` only in the answer that made it: the one time its code is known."""
    code = getattr(invitation, "code", None)
    link = {"link": url_for("auth.register", invitation=code, _external=True)} if code else {}
    return {"id": invitation.id, "email": invitation.email, "role": invitation.role,
            "invited_at": iso(invitation.created_at), **link}


def event_json(event):
    """Who did what, when: never key material (the trail holds none)."""
    return {"action": event.action, "subject": event.subject, "at": iso(event.at), "by": event.by,
            "outcome": event.outcome, "version": event.version, "detail": event.detail}


def counts(team):
    """What deleting the team takes with it, for the confirmation."""
    return {"members": Membership.select().where(Membership.team == team).count(),
            "secrets": TeamSecret.select().where(TeamSecret.team == team).count(),
            "models": LLMModel.select().where(LLMModel.team == team).count()}
