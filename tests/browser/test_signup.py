"""Registration by invitation (VAULT_SIGNUP=invite) in a real Chromium: the first account sets the
instance up and is its admin, a stranger is told why the form refuses them, an invited person joins."""
import pytest
from playwright.sync_api import expect

from tests.helpers import PASSWORD, follow, register

from vault.db import Invitation, Membership, User, database


@pytest.fixture
def app_config(app_config):
    return {**app_config, "VAULT_SIGNUP": "invite"}


def open_account(page, email):
    follow(page, email, "**/account")


def sign_out(page):
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url("**/login")


def test_the_first_account_is_admin_a_stranger_is_refused_and_an_invited_person_joins(page, app):
    register(page, "root@example.com")  # no account yet: the form is open to the first one
    open_account(page, "root@example.com")
    expect(page.locator(".account-facts .badge")).to_have_text("admin")
    page.goto("/teams")  # root invites grace to a team, and is shown the link once
    page.get_by_label("Team name").fill("core")
    page.get_by_role("button", name="Create team").click()
    follow(page, "core", "**/teams/*")
    page.get_by_label("Email").fill("grace@example.com")
    page.get_by_role("button", name="Add member").click()
    link = page.locator("#invitation-link")
    expect(link).to_be_visible()
    invitation = link.input_value()
    assert "/register?invitation=" in invitation
    sign_out(page)

    page.goto("/register")  # grace's address, without the link: refused
    expect(page.get_by_role("status")).to_contain_text("Registration on this instance is by invitation")
    page.get_by_label("Email").fill("grace@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_text("ask a team owner to invite your email")).to_be_visible()

    page.goto(invitation)  # from the link: admitted, and a member of core
    page.get_by_label("Email").fill("grace@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/login")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/secrets")
    open_account(page, "grace@example.com")
    expect(page.locator(".account-facts")).to_contain_text("grace@example.com")
    expect(page.locator(".account-facts .badge")).to_have_count(0)
    with app.app_context(), database.connection_context():
        grace = User.get(User.email == "grace@example.com")
        assert [m.team.name for m in Membership.select().where(Membership.user == grace)] == ["core"]
        assert Invitation.select().count() == 0
    assert [e for e in page.console_errors if "status of 403" not in e] == []  # the refusal was ours
