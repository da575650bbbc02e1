"""The secrets page in a real Chromium: add, rotate, check (against the fake provider), history
and delete, each swapped in place without a page reload."""
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import open_page
from tests.helpers import PASSWORD, close_pool, signed_in

from vault import create_app

FIRST, SECOND = "sk-browser-key-0000000001", "sk-browser-key-0000000002"


@pytest.fixture
def app(app_config, fake_provider):
    yield create_app({**app_config, "VAULT_PROVIDER_BASE_URLS": f"openai={fake_provider.openai_base}"})
    close_pool()


def test_add_rotate_check_and_delete_a_key_without_reload(page, fake_provider):
    signed_in(page)
    page.evaluate("window.__marker = 42")
    expect(page.get_by_text("A provider secret is your API key")).to_be_visible()
    row = page.locator("#secret-openai")

    row.get_by_role("button", name="Add key").click()
    page.get_by_label("API key").fill("not a key")
    page.get_by_role("button", name="Save").click()
    expect(row).to_contain_text("must not contain spaces")            # 422, inside the form
    expect(page.get_by_label("API key")).to_have_value("")            # never echoed back
    page.get_by_label("API key").fill(FIRST)
    page.get_by_role("button", name="Save").click()
    expect(row).to_contain_text("sk-…0001")
    expect(row).to_contain_text("v1")
    expect(page.get_by_text("A provider secret is your API key")).to_be_hidden()
    expect(page.locator("#secret-rows tbody tr").first).to_have_id("secret-openai")  # configured first

    row.get_by_role("button", name="Rotate").click()
    page.get_by_label("API key").fill(SECOND)
    page.get_by_role("button", name="Save").click()
    expect(row).to_contain_text("sk-…0002")
    expect(row).to_contain_text("v2")

    fake_provider.valid_keys = {SECOND}
    row.get_by_role("button", name="Check").click()
    expect(page.locator("#secret-openai-check .badge-ok")).to_have_text("works")
    expect(page.locator("#secret-openai-check")).to_contain_text("Connected to OpenAI")
    assert fake_provider.keys_seen() == [SECOND]

    row.get_by_role("button", name="History").click()
    history = page.locator("#secret-openai-history")
    expect(history).to_contain_text("checked (v2)")
    expect(history).to_contain_text("rotated (v2)")
    expect(history).to_contain_text("added (v1)")

    dialogs = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    row.get_by_role("button", name="Delete").click()
    expect(row.get_by_role("button", name="Add key")).to_be_visible()
    assert dialogs == ["Delete your OpenAI key? No model uses it."]
    expect(page.get_by_text("A provider secret is your API key")).to_be_visible()

    assert page.evaluate("window.__marker") == 42  # every step swapped in place, never reloaded
    assert FIRST not in page.content() and SECOND not in page.content()
    assert page.console_errors == []


def test_cancel_puts_the_row_back(page):
    signed_in(page)
    row = page.locator("#secret-anthropic")
    row.get_by_role("button", name="Add key").click()
    expect(page.get_by_label("API key")).to_be_visible()
    page.get_by_role("button", name="Cancel").click()
    expect(row.get_by_role("button", name="Add key")).to_be_visible()
    expect(page.get_by_label("API key")).to_have_count(0)
    assert page.console_errors == []


def test_allow_a_host_with_the_password_in_place(page, fake_provider):
    signed_in(page)
    row = page.locator("#secret-openai")
    row.get_by_role("button", name="Add key").click()
    page.get_by_label("API key").fill(FIRST)
    page.get_by_role("button", name="Save").click()
    host = fake_provider.openai_base.split("/")[2]
    expect(row).to_contain_text(f"sent only to {host}")

    row.get_by_role("button", name="Allowed hosts").click()
    page.get_by_label("Allowed hosts").fill(f"{host} llm.example.com")
    page.get_by_label("Your password").fill("wrong password")
    page.get_by_role("button", name="Save hosts").click()
    expect(row).to_contain_text("The password is wrong")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Save hosts").click()
    expect(row).to_contain_text("llm.example.com")
    expect(row).to_contain_text("v2")
    assert page.console_errors == []


def test_an_expiry_date_means_the_end_of_that_day_in_the_browsers_time_zone(browser, live_server, app):
    context, page = open_page(browser, live_server, timezone_id="Asia/Tokyo")  # UTC+9, no DST
    try:
        signed_in(page)
        row = page.locator("#secret-openai")
        row.get_by_role("button", name="Add key").click()
        page.get_by_label("API key").fill(FIRST)
        page.get_by_label("Expires on").fill("2031-05-06")
        page.get_by_role("button", name="Save").click()
        expect(row).to_contain_text("2031-05-06")  # the last day it works, as typed
        stored = page.evaluate("fetch('/api/secrets/openai').then(r => r.json())")
        assert stored["secret"]["expires_at"] == "2031-05-06T15:00:00Z"  # midnight in Tokyo
    finally:
        context.close()


def test_adding_a_key_another_tab_added_turns_into_its_rotation(page):
    signed_in(page)
    other = page.context.new_page()
    other.goto("/secrets")
    for tab in (page, other):
        tab.locator("#secret-openai").get_by_role("button", name="Add key").click()
    other.get_by_label("API key").fill(FIRST)
    other.get_by_role("button", name="Save").click()
    expect(other.locator("#secret-openai")).to_contain_text("sk-…0001")
    page.get_by_label("API key").fill(SECOND)
    page.get_by_role("button", name="Save").click()  # this tab still shows the add form
    row = page.locator("#secret-openai")
    expect(row.get_by_role("alert")).to_contain_text("was added meanwhile, in another tab")
    expect(row.get_by_role("form")).to_have_attribute("aria-label", "Rotate the OpenAI key")
    page.get_by_label("API key").fill(SECOND)
    page.get_by_role("button", name="Save").click()
    expect(row).to_contain_text("sk-…0002")
    expect(row).to_contain_text("v2")
    other.close()
