"""A person adds a model from a template without a key, sees it use the provider secret, tests
the connection against the fake provider, edits it and deletes it; then chats in the playground."""
import pytest
from playwright.sync_api import expect

from tests.helpers import register


@pytest.fixture
def app_config(app_config, fake_provider):
    return {**app_config, "VAULT_PROVIDER_BASE_URLS":
            f"openai={fake_provider.openai_base},anthropic={fake_provider.anthropic_base}"}


def settle(page):
    """htmx binds the swapped-in form's own triggers when the swap settles (20 ms): a person never
    changes a field that fast, a test does."""
    page.wait_for_timeout(150)


def open_manual_form(page):
    page.goto("/models")
    page.get_by_role("button", name="Manual").click()
    page.get_by_label("Base URL").wait_for()
    settle(page)


def add_secret(page, key="sk-provider-secret-9f2c"):
    # through the JSON API with the page's own session and CSRF token, as the page's scripts would
    status = page.evaluate("""async (key) => {
        const csrf = document.querySelector('meta[name="csrf-token"]').content;
        const r = await fetch('/api/secrets', {method: 'POST', headers: {'Content-Type': 'application/json',
                              'X-CSRFToken': csrf}, body: JSON.stringify({provider: 'openai', api_key: key})});
        return r.status; }""", key)
    assert status == 201


def test_model_lifecycle_without_reloading(page, fake_provider):
    register(page)
    add_secret(page)
    page.get_by_role("link", name="Models").click()
    page.wait_for_load_state()
    page.evaluate("window.__marker = 7")

    # choosing a provider swaps the whole form in: fields filled before that answer lands are lost
    with page.expect_response(lambda response: "/models/form" in response.url):
        page.get_by_label("Provider").select_option("openai")
    settle(page)
    expect(page.locator("#provider-secret-note")).to_contain_text("OpenAI")
    page.get_by_label("Model ID").select_option("gpt-4o-mini")
    page.get_by_label("Name").fill("mini")
    assert "sk-…9f2c" in page.locator("#provider-secret-note").inner_text()
    page.get_by_role("button", name="Save").click()
    row = page.locator("#model-rows tr", has_text="mini")
    row.wait_for()
    assert "openai provider secret sk-…9f2c" in row.inner_text()

    row.get_by_role("button", name="Test connection").click()
    row.locator(".badge-ok", has_text="connected").wait_for()
    assert fake_provider.keys_seen()[-1] == "sk-provider-secret-9f2c"

    row.get_by_role("button", name="Edit").click()
    editing = page.locator("#model-rows tr.inline-form")
    editing.get_by_label("Name").fill("mini-renamed")
    editing.get_by_role("button", name="Save").click()
    renamed = page.locator("#model-rows tr", has_text="mini-renamed")
    renamed.wait_for()

    page.once("dialog", lambda dialog: dialog.accept())
    renamed.get_by_role("button", name="Delete").click()
    page.get_by_text("No models yet").wait_for()
    assert page.evaluate("window.__marker") == 7
    assert page.console_errors == []


def test_manual_mode_and_unsaved_test_connection(page, fake_provider):
    register(page)
    open_manual_form(page)
    page.get_by_label("Provider").select_option("custom")
    # the form re-renders for the new provider: type only into the new one
    expect(page.locator("#provider-secret-note")).to_contain_text("Custom")
    page.get_by_label("Base URL").fill(fake_provider.openai_base)
    page.get_by_label("Model ID").fill("echo")
    page.get_by_label("API key").fill("sk-typed-key-abcd")
    page.get_by_role("button", name="Test connection").click()
    page.locator("#model-test-result .badge-ok").wait_for()
    assert fake_provider.keys_seen() == ["sk-typed-key-abcd"]
    assert "sk-typed-key-abcd" not in page.content()  # the field is a password input: no value echoed
    page.get_by_label("Name").fill("custom-echo")
    page.get_by_role("button", name="Save").click()
    page.locator("#model-rows tr", has_text="custom-echo").wait_for()
    assert "own key" in page.locator("#model-rows tr", has_text="custom-echo").inner_text()


def test_playground_streams_an_answer(page, fake_provider):
    fake_provider.drip_interval, fake_provider.drip_count = 0.2, 5
    register(page)
    add_secret(page)
    open_manual_form(page)
    page.get_by_label("Model ID").fill("drip")
    page.get_by_label("Name").fill("dripper")
    page.get_by_role("button", name="Save").click()
    page.locator("#model-rows tr", has_text="dripper").wait_for()

    page.get_by_role("link", name="Playground").click()
    page.get_by_label("Model").select_option(label="dripper (openai · drip)")
    page.get_by_label("Message").fill("one two three four five")
    page.get_by_role("button", name="Send").click()
    output = page.locator("#chat-output")
    expect(output).not_to_be_empty()
    partial = output.inner_text()
    expect(page.get_by_role("button", name="Send")).to_be_enabled(timeout=10_000)
    final = output.inner_text()
    assert len(partial) < len(final)  # it grew while streaming, not in one piece
    assert "Key source: provider_secret" in page.locator("#chat-meta").inner_text()
    assert page.console_errors == []


def test_typing_a_base_url_the_secret_may_not_reach_warns_before_saving(page):
    register(page)
    add_secret(page)
    open_manual_form(page)
    note = page.locator("#provider-secret-note")
    expect(note).to_contain_text("✓ Without a key here")
    page.get_by_label("Base URL").fill("https://llm.example.com/v1")
    expect(note).to_contain_text("may not be sent to llm.example.com")
    page.get_by_label("Base URL").fill(page.evaluate("document.querySelector('[name=base_url]').defaultValue"))
    expect(note).to_contain_text("✓ Without a key here")
    assert page.console_errors == []
