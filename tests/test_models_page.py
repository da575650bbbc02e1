"""/models fragments: rows, the add form in both modes, inline edit, delete, remove own key."""
import re

from vault.db import LLMModel

HX = {"HX-Request": "true"}


def add(client, **fields):
    data = {"mode": "template", "provider": "openai", "model_id": "gpt-4o-mini", "name": "mini", **fields}
    return client.post("/models", data=data, headers=HX)


def model_id(client, name):
    return next(m["id"] for m in client.get("/api/models").json["models"] if m["name"] == name)


def test_page_and_rows_fragment(ada):
    page = ada.get("/models").get_data(as_text=True)
    assert 'id="model-form"' in page and 'id="model-rows"' in page and "No models yet" in page
    assert "(Optional — uses the provider secret if empty)" in page
    rows = ada.get("/models", headers=HX)
    assert rows.get_data(as_text=True).lstrip().startswith('<div id="model-rows">')
    assert "HX-Request" in rows.headers["Vary"]


def test_add_from_a_template_uses_provider_defaults(ada):
    response = add(ada)
    assert response.status_code == 201 and "HX-Trigger" not in response.headers
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<form id="model-form"') and "Model “mini” added." in body
    # the list comes with it, out of band: one round trip, not a second request for the list
    assert '<div id="model-rows" hx-swap-oob="true">' in body and 'id="model-' in body.split("model-rows")[1]
    model = ada.get("/api/models").json["models"][0]
    assert model["base_url"] == "https://api.openai.com/v1" and model["model_id"] == "gpt-4o-mini"


def test_manual_mode_shows_every_field_and_provider_change_refreshes_defaults(ada):
    manual = ada.get("/models/form?mode=manual&provider=anthropic", headers=HX).get_data(as_text=True)
    assert 'value="https://api.anthropic.com"' in manual and 'name="base_url"' in manual
    assert re.search(r'<option selected value="x-api-key">|<option value="x-api-key" selected', manual)
    template = ada.get("/models/form?mode=template&provider=huggingface", headers=HX).get_data(as_text=True)
    assert "meta-llama/Llama-3.3-70B-Instruct" in template and 'name="base_url"' not in template
    assert "No Hugging Face provider secret yet" in template


def test_form_says_when_a_provider_secret_will_be_used(ada):
    ada.post("/api/secrets", json={"provider": "openai", "api_key": "sk-provider-secret-9f2c"})
    form = ada.get("/models/form?provider=openai", headers=HX).get_data(as_text=True)
    assert "your OpenAI provider secret <code>sk-…9f2c</code> is used" in form


def test_validation_errors_stay_in_the_form_and_never_echo_the_key(ada):
    response = add(ada, name="", api_key="sk-test-SENTINEL-0000")
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="model-form"' in body
    assert "sk-test-SENTINEL-0000" not in body
    add(ada)
    duplicate = add(ada)
    assert duplicate.status_code == 422 and "already have a model named" in duplicate.get_data(as_text=True)
    bad_url = add(ada, mode="manual", name="x", model_id="x", base_url="ftp://nope")
    assert bad_url.status_code == 422 and "http:// or https://" in bad_url.get_data(as_text=True)


def test_row_badges(ada, app):
    add(ada, name="relying")
    add(ada, name="own", api_key="sk-own-model-key-1a2b")
    add(ada, name="local", provider="ollama", model_id="llama3.2")
    rows = ada.get("/models", headers=HX).get_data(as_text=True)
    assert "own key <code>sk-…1a2b</code>" in rows and "no key: add one" in rows and "no key needed" in rows
    assert "It will have no key until you add a provider secret for OpenAI." in rows
    ada.post("/api/secrets", json={"provider": "openai", "api_key": "sk-provider-secret-9f2c"})
    rows = ada.get("/models", headers=HX).get_data(as_text=True)
    assert "It will use your OpenAI provider secret instead." in rows
    assert "OpenAI provider secret <code>sk-…9f2c</code>" in rows


def test_edit_in_place_and_cancel(ada):
    add(ada)
    mid = model_id(ada, "mini")
    edit = ada.get(f"/models/{mid}/edit", headers=HX)
    assert edit.status_code == 200 and f'id="model-{mid}"' in edit.get_data(as_text=True)
    prefix = f"edit-{mid[:8]}-"
    assert f'id="{prefix}name"' in edit.get_data(as_text=True)
    saved = ada.post(f"/models/{mid}", headers=HX, data={
        f"{prefix}{k}": v for k, v in {"mode": "manual", "name": "renamed", "provider": "openai",
                                       "model_id": "gpt-4.1", "base_url": "https://api.openai.com/v1",
                                       "auth_type": "bearer"}.items()})
    assert saved.status_code == 200 and "HX-Trigger" not in saved.headers
    assert "renamed" in saved.get_data(as_text=True)
    bad = ada.post(f"/models/{mid}", headers=HX, data={f"{prefix}mode": "manual", f"{prefix}name": "",
                                                       f"{prefix}provider": "openai", f"{prefix}model_id": "x"})
    assert bad.status_code == 422 and "inline-form" in bad.get_data(as_text=True)
    cancel = ada.get(f"/models/{mid}", headers=HX)
    assert cancel.status_code == 200 and "renamed" in cancel.get_data(as_text=True)


def test_edit_with_empty_key_keeps_it_and_remove_own_key_falls_back(ada, db):
    add(ada, api_key="sk-own-model-key-1a2b")
    mid = model_id(ada, "mini")
    prefix = f"edit-{mid[:8]}-"
    ada.post(f"/models/{mid}", headers=HX, data={f"{prefix}{k}": v for k, v in {
        "mode": "manual", "name": "mini", "provider": "openai", "model_id": "gpt-4o", "api_key": ""}.items()})
    with db():
        assert LLMModel.get_by_id(mid).api_key_encrypted
    removed = ada.post(f"/models/{mid}/remove-key", headers=HX)
    assert removed.status_code == 200 and "no key: add one" in removed.get_data(as_text=True)
    with db():
        assert LLMModel.get_by_id(mid).api_key_encrypted is None


def test_delete_answers_with_the_list_and_its_empty_state(ada):
    add(ada)
    mid = model_id(ada, "mini")
    response = ada.post(f"/models/{mid}/delete", headers=HX)
    assert response.status_code == 200 and "HX-Trigger" not in response.headers
    assert (response.headers["HX-Retarget"], response.headers["HX-Reswap"]) == ("#model-rows", "outerHTML")
    assert "No models yet" in response.get_data(as_text=True)
    assert ada.get("/api/models").json["models"] == []


def test_test_connection_without_a_key_says_where_to_add_one(ada):
    response = ada.post("/models/test", data={"mode": "template", "provider": "anthropic",
                                              "model_id": "claude-haiku-4-5", "name": "x"}, headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="model-test-result"' in body
    assert "No API key for Anthropic" in body and "/secrets" in body


def test_models_added_in_the_browser_stream_unless_told_otherwise(ada):
    add(ada)
    assert ada.get("/api/models").json["models"][0]["supports_streaming"] is True
    manual = ada.get("/models/form?mode=manual&provider=openai", headers=HX).get_data(as_text=True)
    assert re.search(r'<input checked id="supports_streaming"|<input[^>]*id="supports_streaming"[^>]*checked', manual)


def test_a_base_url_override_is_the_default_the_form_shows_and_saves(app_config):
    from tests.helpers import make_user, sign_in
    from vault import create_app
    gateway = "https://gateway.example.test/v1"
    app = create_app({**app_config, "VAULT_PROVIDER_BASE_URLS": f"custom={gateway},openai={gateway}"})
    make_user(app, "ada@example.com")
    ada = sign_in(app.test_client(), "ada@example.com")
    form = ada.get("/models/form?mode=template&provider=openai", headers=HX).get_data(as_text=True)
    assert f"<code>{gateway}</code>" in form and "api.openai.com" not in form
    assert add(ada, provider="custom", model_id="local-llm", name="local").status_code == 201
    assert add(ada).status_code == 201
    assert {m["base_url"] for m in ada.get("/api/models").json["models"]} == {gateway}


def test_the_form_warns_before_saving_when_the_secret_may_not_go_to_that_host(ada):
    ada.post("/api/secrets", json={"provider": "openai", "api_key": "sk-provider-secret-1234"})
    note = ada.get("/models/key-note", query_string={"mode": "manual", "provider": "openai",
                                                     "base_url": "https://llm.example.com/v1"}, headers=HX)
    text = note.get_data(as_text=True)
    assert note.status_code == 200 and 'id="provider-secret-note"' in text
    assert "may not be sent to llm.example.com" in text and "Secrets page" in text
    fine = ada.get("/models/key-note", query_string={"mode": "manual", "provider": "openai",
                                                     "base_url": "https://api.openai.com/v1"}, headers=HX)
    assert "✓ Without a key here" in fine.get_data(as_text=True)
    # the form itself, after a failed save, says it too
    refused = add(ada, mode="manual", provider="openai", base_url="https://llm.example.com/v1", name="")
    assert refused.status_code == 422 and "may not be sent to llm.example.com" in refused.get_data(as_text=True)


def test_azure_from_a_template_asks_for_its_resource_and_says_so_when_missing(ada):
    """The review's silent 422: the template had no field for {resource}, so Save showed nothing."""
    form = ada.get("/models/form?mode=template&provider=azure", headers=HX).get_data(as_text=True)
    assert 'name="base_url"' in form and "{resource}" in form
    missing = add(ada, provider="azure", model_id="gpt-4o", name="az")
    assert missing.status_code == 422
    assert "Replace the {placeholder} in the base URL" in missing.get_data(as_text=True)
    saved = add(ada, provider="azure", model_id="gpt-4o", name="az",
                base_url="https://contoso.openai.azure.com/openai/v1")
    assert saved.status_code == 201
    model = ada.get("/api/models").json["models"][0]
    assert model["base_url"] == "https://contoso.openai.azure.com/openai/v1" and model["auth_type"] == "api-key"


def test_a_field_error_on_a_field_the_template_hides_is_still_shown(app_config):
    from tests.helpers import make_user, sign_in
    from vault import create_app
    app = create_app({**app_config, "VAULT_BASE_URL_POLICY": "public",
                      "VAULT_PROVIDER_BASE_URLS": "openai=http://127.0.0.1:9/v1"})
    make_user(app, "ada@example.com")
    ada = sign_in(app.test_client(), "ada@example.com")
    refused = add(ada)  # template mode shows the base URL as text, not as a field
    assert refused.status_code == 422
    assert re.search(r'role="alert">[^<]*127\.0\.0\.1', refused.get_data(as_text=True))


def test_edit_hint_mentions_keeping_a_key_only_when_there_is_one(ada):
    add(ada, name="keyless")
    add(ada, name="keyed", api_key="sk-own-model-key-1a2b")
    keyless = ada.get(f"/models/{model_id(ada, 'keyless')}/edit", headers=HX).get_data(as_text=True)
    keyed = ada.get(f"/models/{model_id(ada, 'keyed')}/edit", headers=HX).get_data(as_text=True)
    assert "keep the current key" not in keyless and "uses the provider secret if empty" in keyless
    assert "keep the current key" in keyed


def test_a_stale_edit_form_is_refused_and_offers_to_replace(ada):
    add(ada)
    mid = model_id(ada, "mini")
    prefix = f"edit-{mid[:8]}-"
    edit = ada.get(f"/models/{mid}/edit", headers=HX).get_data(as_text=True)
    assert f'name="{prefix}expected_version" type="hidden" value="1"' in edit
    fields = {"mode": "manual", "name": "mini", "provider": "openai", "model_id": "gpt-4o",
              "base_url": "https://api.openai.com/v1", "auth_type": "bearer", "expected_version": "1"}
    assert ada.patch(f"/api/models/{mid}", json={"name": "renamed"}).status_code == 200
    stale = ada.post(f"/models/{mid}", headers=HX, data={f"{prefix}{k}": v for k, v in fields.items()})
    body = stale.get_data(as_text=True)
    assert stale.status_code == 422 and "changed in another tab" in body
    assert f'name="{prefix}expected_version" type="hidden" value="2"' in body
    assert ada.get(f"/api/models/{mid}").json["model"]["name"] == "renamed"
