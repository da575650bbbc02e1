"""A person adds a model from a template without a key, sees it use the provider secret, tests
the connection against the fake provider, edits it and deletes it; then chats in the playground."""
import contextlib
import re

import pytest
from playwright.sync_api import expect

from tests.helpers import add_model, add_secret, follow, send, signed_in


@pytest.fixture
def app_config(app_config, fake_provider):
    return {**app_config, "VAULT_PROVIDER_BASE_URLS":
            f"openai={fake_provider.openai_base},anthropic={fake_provider.anthropic_base}"}


@contextlib.contextmanager
def new_form(page):
    """What is done inside swaps the model form for another (a provider or a mode was chosen); on
    leaving, the old form is gone, so what a test fills next is the new form, not the old one."""
    old = page.locator("#model-form").element_handle()
    yield
    old.wait_for_element_state("hidden")  # detached: hx-swap="outerHTML"


def open_manual_form(page):
    page.goto("/models")
    with new_form(page):
        page.get_by_role("button", name="Manual").click()


def test_model_lifecycle_without_reloading(page, fake_provider):
    signed_in(page)
    add_secret(page)
    follow(page, "Models", "**/models")
    page.evaluate("window.__marker = 7")

    with new_form(page):  # fields filled before the new form lands would be lost
        page.get_by_label("Provider").select_option("openai")
    expect(page.locator("#provider-secret-note")).to_contain_text("OpenAI")
    page.get_by_label("Model ID").select_option("gpt-4o-mini")
    page.get_by_label("Name").fill("mini")
    assert "sk-…9f2c" in page.locator("#provider-secret-note").inner_text()
    page.get_by_role("button", name="Save").click()
    row = page.locator("#model-rows tr", has_text="mini")
    row.wait_for()
    assert "OpenAI provider secret sk-…9f2c" in row.inner_text()

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
    signed_in(page)
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
    signed_in(page)
    add_secret(page)
    open_manual_form(page)
    page.get_by_label("Model ID").fill("drip")
    page.get_by_label("Name").fill("dripper")
    page.get_by_role("button", name="Save").click()
    page.locator("#model-rows tr", has_text="dripper").wait_for()

    follow(page, "Playground", "**/chat")
    page.get_by_label("Model", exact=True).select_option(label="dripper (OpenAI · drip)")
    page.get_by_label("Message").fill("one two three four five")
    # every length the answer had on screen, as the page drew it (sampling from here would race)
    page.evaluate("""() => { window.lengths = [];
        new MutationObserver(() => { const text = document.querySelector('.chat-assistant .chat-text');
                                     if (text) window.lengths.push(text.textContent.length); })
            .observe(document.getElementById('chat-log'), {subtree: true, childList: true, characterData: true}); }""")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    final = page.locator(".chat-assistant .chat-text").inner_text()
    shown = set(page.evaluate("window.lengths")) - {0}
    assert len(final) in shown and len(shown) > 1, shown  # it grew while streaming, not in one piece
    assert "key: provider secret" in page.locator(".chat-assistant .chat-meta").inner_text()
    assert page.console_errors == []


def test_playground_is_a_conversation(page, fake_provider):
    signed_in(page)
    add_model(page, "broken", "echo")  # no key: listed first, marked, not preselected
    add_secret(page)
    add_model(page, "echoer", "echo", base_url=fake_provider.openai_base)
    # "broken" has a provider secret now too; a model no secret covers shows "no key"
    add_model(page, "azure-less", "gpt-4o", provider="azure", base_url="https://x.openai.azure.com/openai/v1")
    page.goto("/chat")
    model = page.get_by_label("Model", exact=True)
    assert "no key" in page.locator("#chat-model option", has_text="azure-less").inner_text()
    assert model.evaluate("select => select.selectedOptions[0].textContent").strip().startswith("broken")
    model.select_option(label="echoer (OpenAI · echo)")

    page.get_by_text("System prompt, temperature, max tokens").click()
    page.get_by_label("System prompt").fill("Be brief.")
    page.get_by_label("Temperature").fill("0.3")
    page.get_by_label("Max tokens").fill("50")
    message = page.get_by_label("Message")
    message.fill("first line")
    message.press("Shift+Enter")
    message.type("second line")
    assert message.input_value() == "first line\nsecond line"  # Shift+Enter is a newline
    message.press("Enter")
    answers = page.locator(".chat-assistant .chat-text")
    expect(answers.nth(0)).to_have_text("Echo: first line\nsecond line")
    expect(page.locator(".chat-user .chat-text")).to_have_count(1)
    send(page, "again")
    expect(answers.nth(1)).to_have_text("Echo: again")
    sent = fake_provider.calls[-1]["json"]
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "user"]
    assert sent["messages"][0]["content"] == "Be brief." and sent["temperature"] == 0.3
    assert sent["messages"][2]["content"] == "Echo: first line\nsecond line"
    assert 50 in (sent.get("max_tokens"), sent.get("max_completion_tokens"))

    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    copy = page.locator(".chat-assistant").nth(1).locator(".chat-copy")
    copy.click()
    expect(copy).to_contain_text("Copied")  # the clipboard is written asynchronously
    assert page.evaluate("navigator.clipboard.readText()") == "Echo: again"

    model.select_option(label="azure-less (Azure OpenAI · gpt-4o) — no key")  # the turn fails, in place
    send(page, "hello?")
    failed = page.locator(".chat-assistant.chat-failed")
    expect(failed).to_contain_text(re.compile("azure", re.I))
    expect(message).to_have_value("hello?")  # given back, to send again
    model.select_option(label="echoer (OpenAI · echo)")
    message.press("Enter")
    expect(answers.nth(3)).to_have_text("Echo: hello?")
    roles = [m["role"] for m in fake_provider.calls[-1]["json"]["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]  # the failed turn left out

    page.get_by_role("button", name="Clear conversation").click()
    expect(page.locator(".chat-turn")).to_have_count(0)
    expect(message).to_be_focused()
    send(page, "fresh start")
    expect(answers.nth(0)).to_have_text("Echo: fresh start")
    assert [m["role"] for m in fake_provider.calls[-1]["json"]["messages"]] == ["system", "user"]
    # the one failed turn: its 400 is the only thing the console saw
    assert len(page.console_errors) == 1 and "400" in page.console_errors[0]


def test_typing_a_base_url_the_secret_may_not_reach_warns_before_saving(page):
    signed_in(page)
    add_secret(page)
    open_manual_form(page)
    note = page.locator("#provider-secret-note")
    expect(note).to_contain_text("✓ Without a key here")
    page.get_by_label("Base URL").fill("https://llm.example.com/v1")
    expect(note).to_contain_text("may not be sent to llm.example.com")
    page.get_by_label("Base URL").fill(page.evaluate("document.querySelector('[name=base_url]').defaultValue"))
    expect(note).to_contain_text("✓ Without a key here")
    assert page.console_errors == []


def test_two_tabs_editing_one_model_do_not_undo_each_other(page):
    signed_in(page)
    add_model(page, "mini", "gpt-4o-mini")
    other = page.context.new_page()
    for tab in (page, other):
        tab.goto("/models")
        tab.locator("#model-rows tr", has_text="mini").get_by_role("button", name="Edit").click()
        tab.locator("#model-rows tr.inline-form").wait_for()
    first = page.locator("#model-rows tr.inline-form")
    first.get_by_label("Name").fill("mini-renamed")
    first.get_by_role("button", name="Save").click()
    page.locator("#model-rows tr", has_text="mini-renamed").wait_for()

    stale = other.locator("#model-rows tr.inline-form")
    stale.get_by_label("Model ID").fill("gpt-4.1-mini")
    stale.get_by_role("button", name="Save").click()
    expect(stale.get_by_role("alert")).to_contain_text("changed in another tab")
    page.reload()
    expect(page.locator("#model-rows")).to_contain_text("mini-renamed")
    expect(page.locator("#model-rows")).not_to_contain_text("gpt-4.1-mini")

    stale.get_by_role("button", name="Save").click()  # knowingly replacing the other tab's version
    other.locator("#model-rows tr:not(.inline-form)", has_text="gpt-4.1-mini").wait_for()


@pytest.mark.parametrize("width", [1280, 390])
def test_azure_from_a_template_asks_for_its_resource(page, width):
    page.set_viewport_size({"width": width, "height": 900})
    signed_in(page)
    page.goto("/models")
    with new_form(page):
        page.get_by_label("Provider").select_option("azure")
    form = page.locator("#model-form")
    form.get_by_label("Name").fill("az")
    form.get_by_role("button", name="Save").click()
    expect(form.locator(".field-error")).to_contain_text("Replace the {placeholder} in the base URL")
    form.get_by_label("Base URL").fill("https://contoso.openai.azure.com/openai/v1")
    form.get_by_role("button", name="Save").click()
    expect(page.locator("#model-rows")).to_contain_text("Azure OpenAI")
    expect(form).to_contain_text("Model “az” added.")
