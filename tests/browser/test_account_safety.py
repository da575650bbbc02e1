"""Account safety in a real Chromium: a password change signs the other browser out, "Sign out
everywhere" ends both, and deleting the account takes the user back to registration."""
import pytest
from playwright.sync_api import expect

from tests.helpers import PASSWORD, follow, signed_in

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def second(browser, live_server):
    """Another browser context: a second device with its own cookies."""
    context = browser.new_context(base_url=live_server)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def sign_in(page, password=PASSWORD):
    page.goto("/login")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/secrets")


def open_account(page):
    follow(page, "ada@example.com", "**/account")


def test_password_change_signs_the_other_browser_out(page, second):
    signed_in(page)
    sign_in(second)
    open_account(page)
    rows = page.locator("#session-rows tbody tr")
    assert rows.count() == 2 and rows.filter(has_text="this session").count() == 1
    page.evaluate("window.__marker = 42")

    form = page.locator("#password-form")
    form.get_by_label("Current password").fill(PASSWORD)
    form.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    form.get_by_label("Repeat new password").fill(NEW_PASSWORD)
    form.get_by_role("button", name="Change password").click()
    page.get_by_text("Password changed. Your other sessions are signed out.").wait_for()
    # a locator waits without evaluating a string, which the pages' CSP (no unsafe-eval) may refuse
    expect(page.locator("#session-rows tbody tr")).to_have_count(1)
    assert page.evaluate("window.__marker") == 42  # swapped in place, never reloaded

    second.goto("/secrets")
    second.wait_for_url("**/login**")
    page.goto("/secrets")
    assert page.url.endswith("/secrets")  # this browser stays signed in
    sign_in(second, NEW_PASSWORD)
    assert page.console_errors == []


def test_wrong_current_password_shows_an_error_in_place(page):
    signed_in(page)
    open_account(page)
    form = page.locator("#password-form")
    form.get_by_label("Current password").fill("not the password")
    form.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    form.get_by_label("Repeat new password").fill(NEW_PASSWORD)
    form.get_by_role("button", name="Change password").click()
    page.get_by_text("The current password is wrong.").wait_for()


def test_sign_out_everywhere_else_then_everywhere(page, second):
    signed_in(page)
    sign_in(second)
    open_account(page)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Sign out everywhere else").click()
    page.get_by_text("Signed out 1 other session.").wait_for()
    second.goto("/secrets")
    second.wait_for_url("**/login**")

    sign_in(second)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Sign out everywhere", exact=True).click()
    page.wait_for_url("**/login")
    expect(page.get_by_text("You are signed out everywhere.")).to_be_visible()
    second.goto("/secrets")
    second.wait_for_url("**/login**")


def test_delete_account(page):
    signed_in(page)
    open_account(page)
    form = page.locator("#delete-form")
    form.get_by_label("Email").fill("ada@example.com")
    form.get_by_label("Current password").fill("not the password")
    page.once("dialog", lambda dialog: dialog.accept())
    form.get_by_role("button", name="Delete account").click()
    page.get_by_text("The current password is wrong.").wait_for()

    form = page.locator("#delete-form")  # the fragment was swapped
    form.get_by_label("Current password").fill(PASSWORD)
    dialogs = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    form.get_by_role("button", name="Delete account").click()
    page.wait_for_url("**/register")
    assert "cannot be undone" in dialogs[0]
    expect(page.get_by_text("Your account and everything in it have been deleted.")).to_be_visible()
    page.goto("/secrets")
    page.wait_for_url("**/login**")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Email or password is wrong.")).to_be_visible()
    assert page.console_errors == []


def test_a_tab_left_open_after_signing_out_in_another_says_sign_in_again(page):
    signed_in(page)
    from tests.helpers import add_secret
    add_secret(page)
    page.goto("/secrets")
    other = page.context.new_page()  # a second tab: same cookies
    other.goto("/secrets")
    other.get_by_role("button", name="Sign out").click()
    other.wait_for_url("**/login**")
    page.get_by_role("button", name="Check").first.click()  # the first tab's next action
    page.wait_for_url("**/login?signed_out=1")
    expect(page.get_by_role("status").filter(has_text="You were signed out")).to_be_visible()
    expect(page.get_by_text("CSRF")).to_have_count(0)
    other.close()
