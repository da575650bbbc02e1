"""Leaks: a sentinel key stored, rotated and checked never appears in a response (body or
header), page, fragment, log record or the database itself, on SQLite and PostgreSQL."""
import glob
import logging

import pytest

from tests.helpers import close_pool

from vault import create_app

SENTINEL = "sk-test-SENTINEL-0000"
ROTATED = "sk-test-SENTINEL-1111"
MARK = "SENTINEL"  # both keys carry it; their previews (sk-…0000) do not
HX = {"HX-Request": "true"}


@pytest.fixture
def app(app_config, fake_provider):
    yield create_app({**app_config, "VAULT_PROVIDER_BASE_URLS": f"openai={fake_provider.openai_base}"})
    close_pool()


def database_text(app):
    """Every byte the database holds: the SQLite files, or every PostgreSQL row as text."""
    url = app.config["DATABASE_URL"]
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        return b"".join(open(f, "rb").read() for f in glob.glob(path + "*")).decode("latin-1")
    import psycopg
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")]
        return "\n".join(str(row) for t in tables for row in conn.execute(f'SELECT t::text FROM "{t}" t'))


def test_sentinel_key_never_leaves_the_vault(app, ada, bob, fake_provider, caplog):
    caplog.set_level(logging.DEBUG)
    seen = []

    def call(client, method, path, **kwargs):
        response = getattr(client, method)(path, **kwargs)
        seen.append(f"{method} {path} {response.status_code}\n{response.headers}\n{response.get_data(as_text=True)}")
        return response

    # stored, refused as a duplicate, refused as malformed, and through the form with errors
    assert call(ada, "post", "/api/secrets", json={"provider": "openai", "api_key": SENTINEL}).status_code == 201
    call(ada, "post", "/api/secrets", json={"provider": "openai", "api_key": SENTINEL})
    call(ada, "post", "/api/secrets", json={"provider": "nope", "api_key": SENTINEL})
    call(ada, "post", "/api/secrets", json={"provider": "groq", "api_key": SENTINEL + " x"})
    call(ada, "post", "/api/secrets", json={"provider": "groq", "api_key": SENTINEL, "expires_at": "soon"})
    call(ada, "post", "/api/secrets", json={"provider": "groq", "api_key": SENTINEL, "extra": SENTINEL[:3]})
    call(ada, "post", "/secrets/anthropic", data={"api_key": SENTINEL, "expires_at": "bad"}, headers=HX)
    call(ada, "post", "/secrets/anthropic", data={"api_key": SENTINEL + "\x01"}, headers=HX)
    call(ada, "post", "/secrets/anthropic", data={"api_key": SENTINEL}, headers=HX)
    # checked (accepted, then refused), rotated, in conflict, checked again
    call(ada, "post", "/api/secrets/openai/check")
    call(ada, "post", "/secrets/openai/check", headers=HX)
    fake_provider.valid_keys = {"sk-something-else"}
    call(ada, "post", "/api/secrets/openai/check")
    fake_provider.valid_keys = None
    call(ada, "put", "/api/secrets/openai", json={"api_key": ROTATED, "expected_version": 1})
    call(ada, "put", "/api/secrets/openai", json={"api_key": ROTATED, "expected_version": 1})
    call(ada, "post", "/secrets/openai/rotate", data={"api_key": SENTINEL, "expected_version": "1"}, headers=HX)
    call(ada, "post", "/secrets/openai/rotate", data={"api_key": ROTATED, "expected_version": "3"}, headers=HX)
    call(ada, "post", "/api/secrets/openai/check")
    # every page, fragment and read
    for path in ("/secrets", "/api/secrets", "/api/providers", "/api/secrets/openai",
                 "/api/secrets/openai/history", "/api/secrets/anthropic"):
        call(ada, "get", path)
    for path in ("/secrets", "/secrets/openai", "/secrets/openai/rotate", "/secrets/openai/new",
                 "/secrets/openai/history", "/secrets/anthropic/rotate"):
        call(ada, "get", path, headers=HX)
    for method, path in (("get", "/api/secrets/openai"), ("post", "/api/secrets/openai/check"),
                         ("get", "/secrets/openai/rotate")):
        call(bob, method, path, headers=HX if not path.startswith("/api") else {})
    call(ada, "delete", "/secrets/anthropic", headers=HX)

    assert fake_provider.keys_seen()[-1] == ROTATED  # the keys did reach the provider…
    assert SENTINEL in fake_provider.keys_seen()
    for text in seen:  # …and nothing else
        assert MARK not in text, text[:400]
    assert MARK not in caplog.text
    assert seen and caplog.records  # the walk happened and logging was on
    assert MARK not in database_text(app)
