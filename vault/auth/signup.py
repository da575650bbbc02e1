"""Who may open an account through /register (VAULT_SIGNUP: open, invite or closed), and the
teams a new account joins: the ones its email was invited to."""
from .. import audit
from ..db import Invitation, Membership, User
from ..teams.service import code_digest
from ..errors import VaultError

REFUSALS = {  # what the register page says, and a refused registration's message
    "invite": "Registration on this instance is by invitation: ask a team owner to invite your email, "
              "then register with that email from the invitation's link.",
    "closed": "Accounts on this instance are created by its administrator: ask them for one.",
}
CODES = {"invite": "invitation_required", "closed": "registration_closed"}


class SignupRefused(VaultError):
    status = 403

    def __init__(self, barrier):
        super().__init__(REFUSALS[barrier], code=CODES[barrier])


def barrier(policy):
    """What keeps a stranger from registering under `policy` now: "invite", "closed", or None
    (open, or no account yet: the first one sets the instance up, whatever the policy)."""
    if policy == "open" or not User.select().exists():
        return None
    return policy


def admit(policy, email, code=None):
    """SignupRefused unless `email` (lower-case) may register under `policy`: under invite, with
    the code of an invitation of that email. Whether it has an account is never asked: an
    uninvited email is refused alike, registered or not."""
    kind = barrier(policy)
    if kind == "closed" or kind == "invite" and not invited(email, code).exists():
        raise SignupRefused(kind)


def invited(email, code):
    """The invitation that code opens, if it is for that email."""
    return Invitation.select().where(Invitation.email == email, Invitation.code_hash == code_digest(code or ""))


def join_invited_teams(user, code=None):
    """Invitations become memberships, in the role each gave, and go: from /register only the one
    whose code came with it (knowing an invited address proves nothing); from the command line,
    every one of that email (the administrator vouches for it)."""
    invitations = list(invited(user.email, code) if code is not None
                       else Invitation.select().where(Invitation.email == user.email))
    for invitation in invitations:
        Membership.create(team=invitation.team_id, user=user, role=invitation.role)
        audit.record(user, "team.join", f"team:{invitation.team_id}", detail=f"invited as {invitation.role}")
    if invitations:  # by id: only the ones that became memberships
        Invitation.delete().where(Invitation.id.in_([i.id for i in invitations])).execute()
