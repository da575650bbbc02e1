"""Test connection (saved and unsaved) against the fake provider, and key rotation seen from the
provider's side: one PUT on the provider secret, every relying model sends the new key."""
import pytest

from tests.helpers import make_user, sign_in
from vault import create_app

HX = {"HX-Request": "true"}


@pytest.fixture
def ada(app_config, fake_provider):
    app = create_app({**app_config, "VAULT_PROVIDER_BASE_URLS":
                      f"openai={fake_provider.openai_base},anthropic={fake_provider.anthropic_base}"})
    make_user(app, "ada@example.com")
    return sign_in(app.test_client(), "ada@example.com")


def add(client, name, provider="openai", **fields):
    response = client.post("/api/models", json={"name": name, "provider": provider,
                                                "model_id": fields.pop("model_id", "echo"), **fields})
    assert response.status_code == 201, response.json
    return response.json["model"]["id"]


def test_saved_model_test_uses_the_resolved_key(ada, fake_provider):
    ada.post("/api/secrets", json={"provider": "openai", "api_key": "sk-provider-secret-aaaa"})
    result = ada.post(f"/api/models/{add(ada, 'gpt')}/test").json
    assert result["ok"] is True and result["key_source"] == "provider_secret"
    assert result["status"] == 200 and result["latency_ms"] >= 0
    assert "OpenAI" in result["message"]
    assert fake_provider.calls[-1]["path"].endswith("/models")
    assert fake_provider.keys_seen() == ["sk-provider-secret-aaaa"]


def test_anthropic_test_sends_x_api_key_and_version(ada, fake_provider):
    ada.post("/api/secrets", json={"provider": "anthropic", "api_key": "sk-ant-provider-secret-bbbb"})
    result = ada.post(f"/api/models/{add(ada, 'claude', 'anthropic', model_id='claude-haiku-4-5')}/test").json
    assert result["ok"] is True
    call = fake_provider.calls[-1]
    assert call["path"] == "/anthropic/v1/models" and call["key"] == "sk-ant-provider-secret-bbbb"
    assert call["headers"]["anthropic-version"]


def test_refused_key_is_a_plain_sentence_without_the_key_or_body(ada, fake_provider):
    fake_provider.valid_keys = {"sk-the-right-key-0000"}
    ada.post("/api/secrets", json={"provider": "openai", "api_key": "sk-test-SENTINEL-0000"})
    result = ada.post(f"/api/models/{add(ada, 'gpt')}/test").json
    assert result["ok"] is False and result["status"] == 401
    assert "The key was refused by OpenAI (401)" in result["message"]
    assert "SENTINEL" not in str(result) and "UPSTREAM-BODY-MARKER" not in str(result)


def test_unsaved_form_values_with_a_typed_key_or_the_secret(ada, fake_provider):
    body = {"provider": "openai", "model_id": "echo", "api_key": "sk-typed-in-form-cccc"}
    typed = ada.post("/api/models/test", json=body).json
    assert typed["ok"] and typed["key_source"] == "model"
    missing = ada.post("/api/models/test", json={"provider": "openai"})
    assert missing.status_code == 400 and missing.json["error"]["code"] == "missing_api_key"
    ada.post("/api/secrets", json={"provider": "openai", "api_key": "sk-provider-secret-aaaa"})
    assert ada.post("/api/models/test", json={"provider": "openai"}).json["key_source"] == "provider_secret"
    assert fake_provider.keys_seen() == ["sk-typed-in-form-cccc", "sk-provider-secret-aaaa"]
    assert ada.post("/api/models/test", json={"provider": "nope"}).status_code == 400


def test_unreachable_base_url(ada, refused_url):
    result = ada.post("/api/models/test", json={"provider": "custom", "base_url": refused_url,
                                                "api_key": "sk-whatever-key-dddd"}).json
    assert result["ok"] is False and result["status"] is None and "127.0.0.1" in result["message"]


def test_rotation_reaches_every_relying_model_and_overrides_keep_their_key(ada, fake_provider):
    ada.post("/api/secrets", json={"provider": "openai", "api_key": "sk-first-secret-1111"})
    relying = [add(ada, f"relying-{n}") for n in range(3)]
    override = add(ada, "override", api_key="sk-model-own-key-9999")
    for mid in relying + [override]:
        ada.post(f"/api/models/{mid}/test")
    assert fake_provider.keys_seen() == ["sk-first-secret-1111"] * 3 + ["sk-model-own-key-9999"]

    rotated = ada.put("/api/secrets/openai", json={"api_key": "sk-second-secret-2222"})
    assert rotated.status_code == 200
    fake_provider.reset()
    for mid in relying + [override]:
        ada.post(f"/api/models/{mid}/test")
    assert fake_provider.keys_seen() == ["sk-second-secret-2222"] * 3 + ["sk-model-own-key-9999"]

    ada.patch(f"/api/models/{override}", json={"api_key": None})  # "Remove own key" falls back
    ada.post(f"/api/models/{override}/test")
    assert fake_provider.keys_seen()[-1] == "sk-second-secret-2222"


def test_page_fragments_swap_the_result_in(ada, fake_provider):
    ada.post("/api/secrets", json={"provider": "openai", "api_key": "sk-provider-secret-aaaa"})
    mid = add(ada, "gpt")
    saved = ada.post(f"/models/{mid}/test", headers=HX)
    body = saved.get_data(as_text=True)
    assert saved.status_code == 200 and f'id="model-{mid}-test"' in body and "connected" in body
    unsaved = ada.post("/models/test", headers=HX, data={"mode": "template", "provider": "openai",
                                                         "model_id": "echo", "name": "x"})
    assert 'id="model-test-result"' in unsaved.get_data(as_text=True)
    assert "key: provider secret" in unsaved.get_data(as_text=True)


def test_a_misspelt_model_id_fails_the_test_and_says_why(ada, fake_provider):
    ada.post("/api/secrets", json={"provider": "openai", "api_key": "sk-provider-secret-aaaa"})
    result = ada.post(f"/api/models/{add(ada, 'typo', model_id='gpt-4o-mnii')}/test").json
    assert result["ok"] is False and result["code"] == "model_not_listed"
    assert "'gpt-4o-mnii' is not in its list (3 models listed)" in result["message"]
    listed = ada.post(f"/api/models/{add(ada, 'right', model_id='gpt-4o-mini')}/test").json
    assert listed["ok"] is True and "'gpt-4o-mini' is in its list" in listed["message"]


def test_where_the_list_names_no_models_the_model_is_asked_for_one_token(ada, fake_provider):
    fake_provider.models_scenario = "empty"
    ada.post("/api/secrets", json={"provider": "openai", "api_key": "sk-provider-secret-aaaa"})
    result = ada.post(f"/api/models/{add(ada, 'quiet', model_id='echo')}/test").json
    assert result["ok"] is True and "answered a one-token request" in result["message"]
    sent = fake_provider.calls[-1]
    assert sent["path"].endswith("/chat/completions") and sent["json"]["max_completion_tokens"] == 1
    broken = ada.post(f"/api/models/{add(ada, 'gone', model_id='fail-404')}/test").json
    assert broken["ok"] is False and broken["code"] == "upstream_error"
