""""Check": a stored provider secret against the fake provider over real sockets; the outcome is
answered, stored on the secret, swapped into the page and audited."""
import re

import pytest

from tests.helpers import PASSWORD, close_pool

from vault import create_app, llm
from vault.db import AuditEvent, ProviderSecret

HX = {"HX-Request": "true"}
KEY = "sk-test-check-0000000001"
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def app(app_config, fake_provider, refused_url):
    """OpenAI and Anthropic point at the fake provider; Groq at a port where nothing listens."""
    urls = f"openai={fake_provider.openai_base},anthropic={fake_provider.anthropic_base},groq={refused_url}"
    yield create_app({**app_config, "VAULT_PROVIDER_BASE_URLS": urls})
    close_pool()


def add(client, provider="openai", api_key=KEY, **fields):
    response = client.post("/api/secrets", json={"provider": provider, "api_key": api_key, **fields})
    assert response.status_code == 201
    return response.json["secret"]


def test_check_with_a_good_key(ada, fake_provider):
    add(ada)
    response = ada.post("/api/secrets/openai/check")
    result = response.json
    assert response.status_code == 200 and set(result) == {"ok", "status", "message", "checked_at"}
    assert result["ok"] is True and result["status"] == "ok" and ISO_Z.match(result["checked_at"])
    assert result["message"].startswith("Connected to OpenAI")
    assert fake_provider.keys_seen() == [KEY] and fake_provider.calls[0]["path"] == "/openai/v1/models"
    assert ada.get("/api/secrets/openai").json["secret"]["last_check_status"] == "ok"
    events = ada.get("/api/secrets/openai/history").json["events"]
    host = fake_provider.openai_base.split("/")[2]
    assert events[0] == {"action": "check", "at": result["checked_at"], "outcome": "ok", "version": 1,
                         "detail": f"provider_secret → {host}"}
    assert ada.get("/api/secrets/openai").json["secret"]["last_used_at"] is not None  # a check is a use


def test_check_does_not_change_the_version(ada):
    add(ada)
    ada.post("/api/secrets/openai/check")
    assert ada.get("/api/secrets/openai").json["secret"]["version"] == 1
    assert ada.put("/api/secrets/openai", json={"api_key": KEY + "x", "expected_version": 1}).status_code == 200


def test_refused_key_is_reported_stored_and_audited(ada, fake_provider, db):
    add(ada)
    fake_provider.valid_keys = {"sk-some-other-key"}
    result = ada.post("/api/secrets/openai/check").json
    assert result["ok"] is False and result["status"] == "upstream_auth"
    assert "refused by OpenAI (401)" in result["message"] and KEY not in result["message"]
    assert ada.get("/api/secrets/openai").json["secret"]["last_check_status"] == "upstream_auth"
    with db():
        assert AuditEvent.get(AuditEvent.action == "secret.check").outcome == "upstream_auth"


def test_anthropic_key_goes_in_x_api_key(ada, fake_provider):
    add(ada, "anthropic", "sk-ant-test-0000000001")
    assert ada.post("/api/secrets/anthropic/check").json["ok"] is True
    call = fake_provider.calls[0]
    assert call["path"] == "/anthropic/v1/models" and call["key"] == "sk-ant-test-0000000001"
    assert call["headers"]["x-api-key"] == "sk-ant-test-0000000001" and "authorization" not in call["headers"]


def test_provider_failures_become_plain_sentences(ada, fake_provider):
    add(ada)
    fake_provider.models_scenario = "fail-500"
    result = ada.post("/api/secrets/openai/check").json
    assert result["ok"] is False and result["status"] == "upstream_error"
    add(ada, "groq", "gsk_0123456789abcdef")
    unreachable = ada.post("/api/secrets/groq/check").json
    assert unreachable["ok"] is False and unreachable["status"] == "upstream_unreachable"
    assert "UPSTREAM-BODY-MARKER" not in str(result) + str(unreachable)


def test_provider_without_a_default_url_is_not_called(ada, fake_provider):
    add(ada, "custom", "any-key-0123456789", allowed_hosts=["llm.example.com"], password=PASSWORD)
    result = ada.post("/api/secrets/custom/check").json
    assert result["ok"] is False and result["status"] == "no_base_url" and "model" in result["message"]
    assert fake_provider.calls == []


def test_rotation_clears_the_result_and_the_next_check_sends_the_new_key(ada, fake_provider):
    add(ada)
    ada.post("/api/secrets/openai/check")
    rotated = ada.put("/api/secrets/openai", json={"api_key": "sk-test-check-0000000002"}).json["secret"]
    assert rotated["last_check_status"] is None
    ada.post("/api/secrets/openai/check")
    assert fake_provider.keys_seen() == [KEY, "sk-test-check-0000000002"]


def test_result_for_a_key_rotated_meanwhile_is_not_stored(ada, monkeypatch):
    add(ada)

    def rotated_during_the_call(target, timeout=10):
        ProviderSecret.update(version=ProviderSecret.version + 1).execute()
        return {"ok": True, "status": 200, "code": "ok", "message": "fine", "latency_ms": 1}
    monkeypatch.setattr(llm, "check_connection", rotated_during_the_call)
    assert ada.post("/api/secrets/openai/check").json["ok"] is True
    assert ada.get("/api/secrets/openai").json["secret"]["last_check_status"] is None


def test_check_fragment_swaps_the_badge(ada, fake_provider):
    add(ada)
    response = ada.post("/secrets/openai/check", headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and body.lstrip().startswith('<span id="secret-openai-check"')
    assert 'class="badge badge-ok">works<' in body and "Connected to OpenAI" in body
    fake_provider.valid_keys = set()
    refused = ada.post("/secrets/openai/check", headers=HX).get_data(as_text=True)
    assert 'class="badge badge-bad">key refused<' in refused and "(401)" in refused
    page = ada.get("/secrets").get_data(as_text=True)
    assert "key refused" in page and KEY not in page
