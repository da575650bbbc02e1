"""Who may register (VAULT_SIGNUP: open, invite, closed), the instance's admin (its first
account, however made), and invitations becoming memberships when their email gets an account."""
import re

import pytest

from tests.helpers import PASSWORD, close_pool, csrf_from, make_user, released_together, sign_in

from vault import StartupError, create_app
from vault.auth import passwords
from vault.db import AuditEvent, Invitation, Membership, Team, User
from vault.teams.service import code_digest

INVITE_ONLY = "Registration on this instance is by invitation"
BY_THE_ADMIN = "Accounts on this instance are created by its administrator"


def register(client, email, password=PASSWORD, code=None):
    """Through the form, from the invitation's link when a code is given (the form carries it)."""
    page = client.get("/register" + (f"?invitation={code}" if code else ""))
    if code:
        assert f'name="invitation" type="hidden" value="{code}"' in page.get_data(as_text=True)
    return client.post("/register", data={"email": email, "password": password, "confirm": password,
                                          "csrf_token": csrf_from(page), "invitation": code or ""})


@pytest.fixture
def under(app_config):
    """under("invite"): the app with that VAULT_SIGNUP, on this test's database."""
    yield lambda policy: create_app({**app_config, "VAULT_SIGNUP": policy})
    close_pool()


def invite(db, email, team="core", role="member"):
    """(the invitation's id, its code): what an owner's POST /api/teams/<id>/members makes."""
    code = f"code-{team}-{email}"
    with db():
        return Invitation.create(team=Team.get_or_create(name=team)[0], email=email, role=role,
                                 code_hash=code_digest(code)).id, code


def admins(db):
    with db():
        return sorted(u.email for u in User.select().where(User.is_admin))


def a_form_is_offered(page):
    return 'name="confirm"' in page and "Create account" in page


def racing_registration(app):
    """Each thread's client fetches its CSRF token first, so that only the posts race."""
    def prepare(i):
        client = app.test_client()
        data = {"email": f"racer{i}@example.com", "password": PASSWORD, "confirm": PASSWORD,
                "csrf_token": csrf_from(client.get("/register"))}
        return lambda: client.post("/register", data=data).status_code
    return prepare


# --- the instance's admin -----------------------------------------------------------------------

def test_the_first_account_is_the_admin_and_the_second_is_not(app, client, db):
    assert register(client, "first@example.com").status_code == 302
    assert register(app.test_client(), "second@example.com").status_code == 302
    assert admins(db) == ["first@example.com"]
    first = sign_in(app.test_client(), "first@example.com").get("/account").get_data(as_text=True)
    second = sign_in(app.test_client(), "second@example.com").get("/account").get_data(as_text=True)
    assert re.search(r'<span class="badge[^"]*"[^>]*>admin</span>', first)
    assert ">admin<" not in second


def test_the_first_account_made_on_the_command_line_is_the_admin_too(app, db):
    runner = app.test_cli_runner()
    made = runner.invoke(args=["create-user", "root@example.com"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert made.exit_code == 0 and "the instance admin" in made.output
    other = runner.invoke(args=["create-user", "lin@example.com"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert other.exit_code == 0 and "admin" not in other.output
    assert admins(db) == ["root@example.com"]


def test_first_registrations_at_once_make_exactly_one_admin(app, db):
    assert released_together(8, racing_registration(app)) == [302] * 8
    with db():
        assert User.select().count() == 8
    assert len(admins(db)) == 1


# --- VAULT_SIGNUP -------------------------------------------------------------------------------

def test_open_is_the_default_and_anyone_may_register(app, client, db):
    assert app.config["VAULT_SIGNUP"] == "open"
    make_user(app, "ada@example.com")
    page = client.get("/register").get_data(as_text=True)
    assert a_form_is_offered(page) and INVITE_ONLY not in page and BY_THE_ADMIN not in page
    assert register(client, "grace@example.com").status_code == 302
    with db():
        assert User.select().where(User.email == "grace@example.com").exists()


@pytest.mark.parametrize("policy", ["invite", "closed"])
def test_a_new_instance_can_be_set_up_through_the_form_whatever_the_policy(under, policy, db):
    app = under(policy)
    page = app.test_client().get("/register").get_data(as_text=True)
    assert a_form_is_offered(page) and INVITE_ONLY not in page and BY_THE_ADMIN not in page
    assert register(app.test_client(), "root@example.com").status_code == 302
    assert admins(db) == ["root@example.com"]


def test_under_invite_the_page_says_so_and_an_uninvited_email_is_refused(under, db):
    app = under("invite")
    make_user(app, "ada@example.com")
    client = app.test_client()
    page = client.get("/register").get_data(as_text=True)
    assert INVITE_ONLY in page and a_form_is_offered(page)  # an invited email registers with it
    refused = register(client, "grace@example.com")
    assert refused.status_code == 403 and INVITE_ONLY in refused.get_data(as_text=True)
    as_json = client.post("/register", headers={"Accept": "application/json"}, data={
        "email": "grace@example.com", "password": PASSWORD, "confirm": PASSWORD,
        "csrf_token": csrf_from(client.get("/register"))})
    assert as_json.status_code == 403 and as_json.json["error"]["code"] == "invitation_required"
    with db():
        assert User.select().count() == 1


def test_under_invite_an_invited_email_registers_from_its_link_and_joins_that_team(under, db):
    app = under("invite")
    make_user(app, "ada@example.com")
    _, core = invite(db, "grace@example.com", "core", "owner")
    research, _ = invite(db, "grace@example.com", "research", "member")
    lin, lin_code = invite(db, "lin@example.com", "core")
    assert register(app.test_client(), "grace@example.com", code=lin_code).status_code == 403  # not hers
    assert register(app.test_client(), "Grace@Example.com", code=core).status_code == 302
    with db():
        grace = User.get(User.email == "grace@example.com")
        joined = {(m.team.name, m.role) for m in Membership.select().where(Membership.user == grace)}
        assert joined == {("core", "owner")}  # only the link's team
        assert sorted(i.id for i in Invitation.select()) == sorted([research, lin])
        audited = AuditEvent.select().where(AuditEvent.user == grace, AuditEvent.action == "team.join")
        assert [e.subject for e in audited] == [f"team:{Team.get(Team.name == 'core').id}"]
        assert not grace.is_admin
    sign_in(app.test_client(), "grace@example.com")


def test_under_invite_an_uninvited_email_gets_the_same_answer_with_or_without_an_account(under, db, monkeypatch):
    app = under("invite")
    make_user(app, "ada@example.com")
    make_user(app, "bob@example.com")
    hashed = []
    monkeypatch.setattr(passwords, "hash_password", lambda pw: hashed.append(pw) or passwords.hasher.hash(pw))
    with_account, without = register(app.test_client(), "bob@example.com"), register(app.test_client(), "eve@example.com")

    def shown(response):  # the page less the email typed and the per-session CSRF token
        text = response.get_data(as_text=True).replace("bob@example.com", "E").replace("eve@example.com", "E")
        return re.sub(r'(csrf-token" content=|X-CSRFToken": )"[^"]+"', r"\1T", text)
    assert with_account.status_code == without.status_code == 403
    assert shown(with_account) == shown(without) and sorted(with_account.headers.keys()) == sorted(without.headers.keys())
    assert len(hashed) == 2  # the same work either way
    with db():
        assert User.select().count() == 2


def test_under_closed_the_page_says_who_makes_accounts_and_every_post_is_refused(under, db):
    app = under("closed")
    make_user(app, "root@example.com")
    invite(db, "grace@example.com")  # an invitation does not open a closed instance
    client = app.test_client()
    page = client.get("/register").get_data(as_text=True)
    assert BY_THE_ADMIN in page and not a_form_is_offered(page) and 'href="/login"' in page
    for email in ("grace@example.com", "root@example.com", "new@example.com"):
        refused = register(client, email)
        assert refused.status_code == 403 and BY_THE_ADMIN in refused.get_data(as_text=True)
    with db():
        assert User.select().count() == 1 and Invitation.select().count() == 1


def test_under_closed_first_registrations_at_once_make_one_account(under, db):
    results = released_together(6, racing_registration(under("closed")))
    assert sorted(results) == [302] + [403] * 5
    with db():
        assert User.select().count() == 1
    assert len(admins(db)) == 1


def test_under_closed_the_command_line_still_creates_accounts_and_they_join_their_teams(under, db):
    app = under("closed")
    make_user(app, "root@example.com")
    invite(db, "lin@example.com", role="owner")
    invite(db, "lin@example.com", "research")
    made = app.test_cli_runner().invoke(args=["create-user", "lin@example.com"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert made.exit_code == 0 and "lin@example.com" in made.output
    with db():
        lin = User.get(User.email == "lin@example.com")
        assert sorted((m.team.name, m.role) for m in lin.memberships) == [("core", "owner"), ("research", "member")]
        assert Invitation.select().count() == 0 and not lin.is_admin
    sign_in(app.test_client(), "lin@example.com")


def test_under_open_an_invited_email_joins_its_team_only_from_its_link(app, client, db):
    make_user(app, "ada@example.com")
    _, code = invite(db, "grace@example.com")
    make_user(app, "eve@example.com")
    assert register(app.test_client(), "grace@example.com", code="a-guessed-code").status_code == 302
    with db():  # the account is made (open), but knowing the address joins nothing
        assert list(User.get(User.email == "grace@example.com").memberships) == []
        User.delete().where(User.email == "grace@example.com").execute()
    assert register(client, "grace@example.com", code=code).status_code == 302
    with db():
        grace = User.get(User.email == "grace@example.com")
        assert [(m.team.name, m.role) for m in grace.memberships] == [("core", "member")]
        assert Invitation.select().count() == 0


@pytest.mark.parametrize("value", ["invitation", "Open", "none"])
def test_an_unknown_sign_up_policy_stops_start_up_naming_the_setting(app_config, monkeypatch, value):
    monkeypatch.setenv("VAULT_SIGNUP", value)
    with pytest.raises(StartupError) as refused:
        create_app(app_config)
    message = str(refused.value)
    assert "VAULT_SIGNUP" in message and value in message and "open, invite, closed" in message


def test_the_sign_up_policy_is_read_from_the_environment(app_config, monkeypatch):
    monkeypatch.setenv("VAULT_SIGNUP", "closed")
    assert create_app(app_config).config["VAULT_SIGNUP"] == "closed"
    close_pool()
