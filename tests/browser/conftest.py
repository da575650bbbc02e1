"""A live server on loopback and Playwright driving Debian's Chromium (never a downloaded one)."""
import os
import shutil
import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

# Assertions wait as long as actions (open_page sets 10 s), not the 5 s a quiet machine would need
expect.set_options(timeout=10_000)

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  # Each context's window preloads the address bar's drop-down, a web page of its own
                  # in a renderer of its own: ~0.7 CPU-s per context, a quarter of a browser test's CPU.
                  "--disable-features=WebUIOmniboxPopup,WebUIOmniboxAimPopup"]
# Chromium heeds only the last --disable-features, and Playwright passes its own list first: this
# script merges the lists and starts the real binary.
MERGING_LAUNCHER = Path(__file__).with_name("chromium.sh")


def chromium_path():
    for candidate in (os.environ.get("VAULT_CHROMIUM"), "/usr/bin/chromium",
                      shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if path is None:
        reason = "no Chromium found (apt-get install chromium, or set VAULT_CHROMIUM)"
        if os.environ.get("VAULT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"VAULT_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=MERGING_LAUNCHER, headless=True, args=CHROMIUM_FLAGS,
                                             env={**os.environ, "VAULT_CHROMIUM_BINARY": path})
        yield browser
        browser.close()


@pytest.fixture
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # shutdown() waits for the loop's next poll: half a second by default, at every test's end
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def open_page(browser, live_server, **options):
    """A browser context of its own (its own cookies; `options` are new_context's) and a page in
    it: (context, page)."""
    context = browser.new_context(base_url=live_server, **options)
    # htmx binds a swapped-in fragment's hx- attributes when the swap settles, 20 ms later (more
    # under load): a person never clicks inside that window, a test does. With no delay htmx binds
    # them in the same task as the swap, through the same code.
    context.add_init_script("document.addEventListener('DOMContentLoaded', () => "
                            "{ if (window.htmx) window.htmx.config.defaultSettleDelay = 0; });")
    page = context.new_page()
    page.set_default_timeout(10_000)
    return context, page


@pytest.fixture
def page(browser, live_server):
    context, page = open_page(browser, live_server)
    errors = []

    def on_console(msg):  # our deliberate 401/409/422 answers are not page errors; the rest are
        if msg.type == "error" and not any(f"status of {s}" in msg.text for s in (401, 409, 422)):
            errors.append(msg.text)
    page.on("console", on_console)
    page.console_errors = errors
    yield page
    context.close()

