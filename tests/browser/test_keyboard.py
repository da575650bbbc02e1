"""The pages by keyboard alone: an inline form takes focus when it opens and gives it back to
the button that opened it when it closes (Escape closes it), a removed row hands focus to the
heading, every button names its row, and focus is always visible."""
from playwright.sync_api import expect

from tests.helpers import add_model, api, signed_in

KEY = "sk-keyboard-only-0001"


def focused_inside(locator):
    return locator.evaluate("element => element.contains(document.activeElement)")


def test_a_secret_added_rotated_and_closed_by_keyboard(page):
    signed_in(page)
    row = page.locator("#secret-openai")
    row.get_by_role("button", name="Add key").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#openai-api-key")).to_be_focused()  # into what opened
    page.keyboard.press("Escape")
    expect(row.get_by_role("button", name="Add key")).to_be_focused()  # back to what opened it

    page.keyboard.press("Enter")
    expect(page.locator("#openai-api-key")).to_be_focused()
    page.keyboard.type(KEY)
    page.keyboard.press("Enter")
    expect(row).to_contain_text("sk-…0001")
    assert focused_inside(row)  # not dropped to the page

    row.get_by_role("button", name="Rotate").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#openai-api-key")).to_be_focused()
    page.keyboard.press("Escape")
    expect(row.get_by_role("button", name="Rotate")).to_be_focused()
    assert page.console_errors == []


def test_a_model_edited_and_deleted_by_keyboard(page):
    signed_in(page)
    for name in ("alpha", "beta"):
        add_model(page, name, "gpt-4o")
    page.goto("/models")
    alpha = page.locator("#model-rows tr", has_text="alpha")
    alpha.get_by_role("button", name="Edit").focus()
    page.keyboard.press("Enter")
    editing = page.locator("#model-rows tr.inline-form")
    expect(editing.get_by_label("Name")).to_be_focused()
    page.keyboard.press("Escape")
    expect(alpha.get_by_role("button", name="Edit")).to_be_focused()

    page.once("dialog", lambda dialog: dialog.accept())
    alpha.get_by_role("button", name="Delete").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#model-rows")).not_to_contain_text("alpha")
    expect(page.locator("main h1")).to_be_focused()
    assert page.console_errors == []


def test_every_button_names_its_row(page):
    signed_in(page)
    for provider, key in (("openai", "sk-names-0000000001"), ("groq", "gsk_names0000000002")):
        assert api(page, "POST", "/api/secrets", {"provider": provider, "api_key": key}) == 201
    for name in ("one", "two"):
        add_model(page, name, "gpt-4o")
    for path, rows in (("/secrets", "#secret-rows"), ("/models", "#model-rows")):
        page.goto(path)
        names = page.locator(f"{rows} button").evaluate_all("buttons => buttons.map(b => b.textContent.trim())")
        assert len(names) > 4 and len(names) == len(set(names)), names
    page.goto("/secrets")
    rotate = page.get_by_role("button", name="Rotate the Groq key")
    expect(rotate).to_have_count(1)


def test_focus_is_always_visible(page):
    signed_in(page)
    page.keyboard.press("Tab")
    for _ in range(8):
        page.keyboard.press("Tab")
        outline = page.evaluate("""() => { const s = getComputedStyle(document.activeElement);
            return [document.activeElement.tagName, s.outlineStyle, parseFloat(s.outlineWidth)]; }""")
        assert outline[1] != "none" and outline[2] >= 2, outline
