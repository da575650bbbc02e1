"""A person makes a chat-only token on the Tokens page, password and all, in a real Chromium;
the token chats but cannot manage."""
import requests
from playwright.sync_api import expect

from tests.helpers import PASSWORD, follow, signed_in


def test_create_a_chat_only_token_with_the_password(page, live_server):
    signed_in(page)
    follow(page, "Tokens", "**/tokens")
    page.get_by_label("Name").fill("notebook")
    assert page.get_by_label("chat:").is_checked() and not page.get_by_label("manage:").is_checked()

    page.get_by_label("Your password").fill("not the password")
    page.get_by_role("button", name="Create token").click()
    page.get_by_text("The password is wrong.").wait_for()
    assert page.get_by_label("New API token").count() == 0

    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_label("New API token").input_value()
    assert token.startswith("psv_")
    row = page.locator("#token-rows tr", has_text="notebook")
    row.wait_for()
    assert row.locator(".token-scopes").inner_text().split() == ["chat"]
    assert row.locator(".token-models").inner_text() == "every model"
    assert page.get_by_label("Your password").input_value() == ""  # the form came back blank

    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{live_server}/api/models", headers=headers, timeout=10).status_code == 200
    refused = requests.get(f"{live_server}/api/secrets", headers=headers, timeout=10)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_scope"
    assert page.console_errors == []


def test_the_new_token_and_its_snippets_copy_with_one_click(page):
    signed_in(page)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/tokens")
    page.get_by_label("Name").fill("laptop")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_label("New API token").input_value()
    page.get_by_role("button", name="Copy token").click()
    expect(page.locator('[data-copy="new-token"]')).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == token
    page.get_by_title("Copy the environment variables").click()
    expect(page.locator('[data-copy="snippet-env"]')).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("export OPENAI_BASE_URL=http://127.0.0.1") and f"ANTHROPIC_API_KEY={token}" in copied
    assert page.console_errors == []
