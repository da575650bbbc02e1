"""vault.llm against the fake provider over real sockets: check_connection sentences, and every
upstream failure mapped to our error codes, streamed and not, without a key in sight."""
import logging

import pytest

from vault import llm
from vault.crypto import Plaintext
from vault.resolver import Target

from .fake_provider import BODY_MARKER

KEY = "sk-test-SENTINEL-errors-0000"
CHAT = {"messages": [{"role": "user", "content": "hi"}]}


def target(base, provider="openai", model="echo", key=KEY, source="model", auth=None):
    auth = auth or {"openai": "bearer", "anthropic": "x-api-key", "azure": "api-key"}.get(provider, "bearer")
    return Target(provider, base, auth, Plaintext(key) if key else None, source, model)


def base_for(fake, provider):
    return fake.anthropic_base if provider == "anthropic" else fake.openai_base


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_check_connection_accepts_a_good_key(fake_provider, provider):
    result = llm.check_connection(target(base_for(fake_provider, provider), provider))
    assert result["ok"] is True and result["status"] == 200 and result["code"] == "ok"
    assert result["latency_ms"] >= 0
    assert fake_provider.keys_seen() == [KEY]


def test_check_connection_names_the_provider_and_the_key_source(fake_provider):
    fake_provider.valid_keys = {"sk-other"}
    own = llm.check_connection(target(fake_provider.openai_base, source="model"))
    shared = llm.check_connection(target(fake_provider.openai_base, source="provider_secret"))
    assert own == own | {"ok": False, "status": 401, "code": "upstream_auth",
                         "message": "The key was refused by OpenAI (401); it is the model's own key."}
    assert shared["message"] == "The key was refused by OpenAI (401); it is the openai provider secret."


def test_check_connection_to_a_refused_port_says_unreachable(refused_url):
    result = llm.check_connection(target(refused_url))
    port = refused_url.split(":")[2].split("/")[0]
    assert result["ok"] is False and result["status"] is None and result["code"] == "upstream_unreachable"
    assert result["message"] == f"Could not connect to OpenAI at 127.0.0.1:{port}."


def test_anthropic_check_sends_key_and_version_headers(fake_provider):
    assert llm.check_connection(target(fake_provider.anthropic_base, "anthropic"))["ok"]
    headers = fake_provider.calls[0]["headers"]
    assert headers["x-api-key"] == KEY and headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in headers
    assert fake_provider.calls[0]["path"] == "/anthropic/v1/models"


@pytest.mark.parametrize("auth, header, value", [("bearer", "authorization", f"Bearer {KEY}"),
                                                  ("api-key", "api-key", KEY), ("x-api-key", "x-api-key", KEY)])
def test_the_key_travels_only_in_its_header(fake_provider, auth, header, value):
    provider = "azure" if auth == "api-key" else "openai"
    assert llm.check_connection(target(fake_provider.openai_base, provider, auth=auth))["ok"]
    call = fake_provider.calls[0]
    assert call["headers"][header] == value
    assert KEY not in call["path"]
    assert [h for h, v in call["headers"].items() if KEY in v] == [header]


def test_auth_type_none_sends_no_key(fake_provider):
    fake_provider.allow_no_key = True
    result = llm.check_connection(Target("ollama", fake_provider.openai_base, "none", None, "none"))
    assert result["ok"] and "no key needed" in result["message"]
    headers = fake_provider.calls[0]["headers"]
    assert fake_provider.keys_seen() == [None] and "authorization" not in headers


@pytest.mark.parametrize("scenario, code, status", [
    ("fail-401", "upstream_auth", 401), ("fail-403", "upstream_auth", 403),
    ("fail-429", "upstream_rate_limited", 429), ("fail-500", "upstream_error", 500),
    ("garbage", "upstream_bad_response", 200)])
def test_check_connection_failures_are_our_sentences(fake_provider, caplog, scenario, code, status):
    fake_provider.models_scenario = scenario
    with caplog.at_level(logging.DEBUG):
        result = llm.check_connection(target(fake_provider.openai_base))
    assert result["ok"] is False and result["code"] == code and result["status"] == status
    assert "OpenAI" in result["message"]
    for text in (result["message"], caplog.text):
        assert KEY not in text and BODY_MARKER not in text
