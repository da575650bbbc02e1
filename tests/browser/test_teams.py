"""The team pages in a real Chromium: an owner makes a team, adds a member, stores the team's key
and a team model; the member (another browser) sees the key's preview but no write button and
chats with the model; once removed, the member's next chat fails."""
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import open_page
from tests.helpers import close_pool, follow, send, signed_in

from vault import create_app

TEAM_KEY = "sk-browser-team-key-00007777"


@pytest.fixture
def app(app_config, fake_provider):
    yield create_app({**app_config, "VAULT_PROVIDER_BASE_URLS": f"openai={fake_provider.openai_base}"})
    close_pool()


@pytest.fixture
def member(browser, live_server):
    """Another browser context: the member's own cookies."""
    context, page = open_page(browser, live_server)
    yield page
    context.close()


def test_an_owner_shares_a_key_with_a_member_until_removing_them(page, member, fake_provider):
    signed_in(member, "bob@example.com")
    signed_in(page)
    follow(page, "Teams", "**/teams")
    expect(page.get_by_text("You belong to no team yet")).to_be_visible()
    page.get_by_label("Team name").fill("acme")
    page.get_by_role("button", name="Create team").click()
    follow(page, "open it", "**/teams/*")
    expect(page.get_by_role("heading", name="acme", level=1)).to_be_visible()

    page.get_by_label("Email").fill("nobody@example.com")
    page.get_by_role("button", name="Add member").click()
    expect(page.locator("#email-error")).to_contain_text("No account uses nobody@example.com")  # 422, on the field
    page.get_by_label("Email").fill("bob@example.com")
    page.get_by_role("button", name="Add member").click()
    expect(page.locator("#member-form")).to_contain_text("bob@example.com is a member of the team now.")
    expect(page.locator("#team-members")).to_contain_text("bob@example.com")

    row = page.locator("#secret-openai")
    row.get_by_role("button", name="Add key").click()
    row.get_by_label("API key").fill(TEAM_KEY)
    row.get_by_role("button", name="Save").click()
    expect(row).to_contain_text("sk-…7777")

    page.get_by_text("Add a team model").click()
    form = page.locator("#team-model-form")
    form.get_by_label("Model ID").fill("echo")
    form.get_by_label("Name").fill("team-echo")
    form.get_by_role("button", name="Add model").click()
    expect(form).to_contain_text("Model “team-echo” added")
    expect(page.locator("#team-models")).to_contain_text("the team’s OpenAI secret")

    follow(member, "Teams", "**/teams")
    follow(member, "acme", "**/teams/*")
    expect(member.locator("#secret-openai")).to_contain_text("sk-…7777")
    for write in ("Add key", "Rotate", "Check", "Delete", "Delete team", "Add member", "Make owner", "Remove"):
        expect(member.get_by_role("button", name=write, exact=True)).to_have_count(0)
    expect(member.get_by_role("button", name="Leave team")).to_be_visible()
    assert TEAM_KEY not in member.content()

    follow(member, "Playground", "**/chat")
    member.get_by_label("Model", exact=True).select_option(label="team-echo (OpenAI · echo)")
    send(member, "hello team")
    expect(member.locator(".chat-assistant .chat-text")).to_have_text("Echo: hello team")
    assert fake_provider.keys_seen()[-1] == TEAM_KEY

    dialogs = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    page.locator("#team-members tr", has_text="bob@example.com").get_by_role("button", name="Remove").click()
    expect(page.locator("#team-members")).to_contain_text("bob@example.com is no longer a member")
    assert dialogs == ["Remove bob@example.com from “acme”? Their next request with the team's keys or models is refused."]

    calls = len(fake_provider.calls)
    send(member, "still there?")
    expect(member.locator(".chat-assistant.chat-failed")).to_be_visible()
    assert len(fake_provider.calls) == calls  # refused before the provider


def test_the_only_owner_is_told_why_they_cannot_leave(page):
    signed_in(page)
    page.goto("/teams")
    page.get_by_label("Team name").fill("solo")
    page.get_by_role("button", name="Create team").click()
    follow(page, "solo", "**/teams/*")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Leave team").click()
    expect(page.locator("#team-members [role=alert]")).to_contain_text("The team's only owner cannot leave")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete team").click()
    page.wait_for_url("**/teams")
    expect(page.get_by_text("Team “solo” deleted")).to_be_visible()
    assert page.console_errors == []
