"""A person registers, signs out and signs in again, in a real Chromium."""
from playwright.sync_api import expect

from tests.helpers import PASSWORD, follow, register, signed_in


def test_register_sign_out_and_sign_in(page):
    register(page)
    expect(page.get_by_text("ada@example.com")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")
    expect(page.get_by_text("You are signed out.")).to_be_visible()

    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Email or password is wrong.")).to_be_visible()

    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/secrets")
    expect(page.get_by_role("link", name="Tokens")).to_be_visible()
    assert page.console_errors == []  # CSP and htmx load without complaint


def test_create_and_revoke_a_token_without_reload(page):
    signed_in(page)
    follow(page, "Tokens", "**/tokens")
    page.evaluate("window.__marker = 42")
    page.get_by_label("Name").fill("laptop")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_label("New API token").input_value()
    assert token.startswith("psv_")
    row = page.locator("#token-rows tr", has_text="laptop")
    row.wait_for()
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    page.locator("#token-rows .badge-bad", has_text="revoked").wait_for()
    assert page.evaluate("window.__marker") == 42  # swapped in place, never reloaded
    assert page.console_errors == []
