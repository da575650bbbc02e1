"""Every page in its usual states, at a desktop width, a phone's, and in dark mode: axe-core finds
no serious or critical accessibility problem (contrast included) and the page never scrolls
sideways. With VAULT_SCREENSHOTS=<folder>, a screenshot of each state is written to
<folder>/{desktop,phone,dark}/ for a reviewer."""
import os
import pathlib

import pytest
from playwright.sync_api import expect

from tests.helpers import PASSWORD, api, follow, register, signed_in

AXE = pathlib.Path(__file__).parent / "vendor" / "axe.min.js"
SHOTS = os.environ.get("VAULT_SCREENSHOTS")  # off by default: a sixth of the walk's CPU
WIDTHS = {"desktop": (1280, 800, "light"), "phone": (390, 844, "light"), "dark": (1280, 800, "dark")}


@pytest.fixture
def app_config(app_config, fake_provider):
    return {**app_config, "VAULT_PROVIDER_BASE_URLS": f"openai={fake_provider.openai_base}"}


@pytest.fixture
def walk(request, browser, live_server):
    width, height, scheme = WIDTHS[request.param]
    # axe is injected as a script of the test's own, which the vault's CSP would refuse
    context = browser.new_context(base_url=live_server, viewport={"width": width, "height": height},
                                  color_scheme=scheme, bypass_csp=True,
                                  reduced_motion="reduce")  # axe reads colours mid-transition otherwise
    context.add_init_script("document.addEventListener('DOMContentLoaded', () => "
                            "{ if (window.htmx) window.htmx.config.defaultSettleDelay = 0; });")
    page = context.new_page()
    page.set_default_timeout(10_000)
    folder = pathlib.Path(SHOTS, request.param) if SHOTS else None
    if folder:
        folder.mkdir(parents=True, exist_ok=True)
    seen = []

    def check(state):
        """axe on the page as it is now, then the sideways scroll, then the screenshot if asked for."""
        page.wait_for_load_state()
        if not page.evaluate("typeof axe === 'object'"):  # an htmx swap keeps it; a navigation does not
            page.add_script_tag(path=str(AXE))
        problems = page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']}))
            .violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' +
                      v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' ' + n.failureSummary).join(', '))""")
        assert problems == [], f"{state} at {width}px: {problems}"
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{state} at {width}px scrolls sideways by {overflow}px"
        seen.append(state)
        if folder:
            page.screenshot(path=str(folder / f"{len(seen):02d}-{state}.jpg"), full_page=True, type="jpeg",
                            quality=70)

    page.check = check
    page.width = width
    yield page
    context.close()


@pytest.mark.parametrize("walk", list(WIDTHS), indirect=True)
def test_every_page_and_state(walk, fake_provider):
    page = walk
    page.goto("/register")
    page.check("register")
    page.goto("/login")
    page.check("sign-in")
    register(page)
    page.check("secrets-empty")

    row = page.locator("#secret-openai")
    row.get_by_role("button", name="Add key").click()
    page.get_by_label("API key").wait_for()
    page.check("secrets-add-form")
    page.get_by_label("API key").fill("sk-provider-secret-9f2c")
    page.get_by_role("button", name="Save").click()
    expect(row).to_contain_text("sk-…9f2c")
    row.get_by_role("button", name="History").click()
    expect(row.locator("details.history")).to_be_visible()
    page.check("secrets-with-a-key")
    row.get_by_role("button", name="Allowed hosts").click()
    page.get_by_label("Your password").wait_for()
    page.check("secrets-allowed-hosts")

    assert api(page, "POST", "/api/models", {"name": "echoer", "provider": "openai", "model_id": "echo"}) == 201
    assert api(page, "POST", "/api/models", {"name": "azure-less", "provider": "azure", "model_id": "gpt-4o",
                                             "base_url": "https://x.openai.azure.com/openai/v1"}) == 201
    page.goto("/models")
    page.locator("#model-rows tr", has_text="echoer").get_by_role("button", name="Test connection").click()
    expect(page.locator("#model-rows .badge-ok", has_text="connected")).to_be_visible()
    page.check("models")
    page.locator("#model-rows tr", has_text="echoer").get_by_role("button", name="Edit").click()
    page.locator("#model-rows tr.inline-form").wait_for()
    page.check("models-edit")
    page.get_by_role("button", name="Manual").click()
    page.locator("#model-form").get_by_label("Base URL").wait_for()
    page.check("models-add-manual")

    page.goto("/chat")
    message = page.get_by_label("Message")
    message.fill("hello there")
    message.press("Enter")
    expect(page.locator(".chat-assistant .chat-text")).to_have_text("Echo: hello there")
    page.get_by_text("System prompt, temperature, max tokens").click()
    page.check("playground-conversation")

    page.goto("/tokens")
    page.get_by_label("Name").fill("laptop")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token")).to_be_visible()
    page.check("tokens-created")

    page.goto("/account")
    page.check("account")
    page.goto("/no-such-page")
    page.check("not-found")

    page.goto("/teams")
    page.check("teams-empty")
    page.get_by_label("Team name").fill("acme")
    page.get_by_role("button", name="Create team").click()
    expect(page.locator("#team-rows")).to_contain_text("acme")
    page.check("teams")
    follow(page, "acme", "**/teams/*")
    team = page.url.rsplit("/", 1)[1]
    assert api(page, "POST", f"/api/teams/{team}/secrets", {"provider": "openai", "api_key": "sk-team-secret-9f2c"}) == 201
    assert api(page, "POST", "/api/models", {"name": "team-echo", "provider": "openai", "model_id": "echo",
                                             "team_id": int(team)}) == 201
    page.reload()
    page.get_by_role("button", name="Show who did what").click()
    expect(page.locator("#team-history")).to_contain_text("created the team")
    page.get_by_text("Add a team model").click()
    page.check("team")


@pytest.mark.parametrize("walk", ["phone"], indirect=True)
def test_the_navigation_reaches_every_page_at_phone_width(walk):
    page = walk
    signed_in(page)
    for name in ("Secrets", "Models", "Teams", "Playground", "Tokens", "ada@example.com", "Sign out"):
        target = page.get_by_role("link" if name != "Sign out" else "button", name=name, exact=True)
        box = target.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= page.width, (name, box)
    follow(page, "Tokens", "**/tokens")
