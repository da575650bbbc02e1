"""/api/models: create with provider defaults, read, patch, drop the own key, delete; bad input;
another user's ids; the shared catalog."""
import uuid

import pytest

from vault import crypto
from vault.db import LLMModel

SENTINEL = "sk-test-SENTINEL-0000"


def create(client, **fields):
    body = {"name": "gpt", "provider": "openai", "model_id": "gpt-4o", **fields}
    return client.post("/api/models", json=body)


def test_create_takes_base_url_and_auth_type_from_the_provider(ada):
    response = create(ada)
    assert response.status_code == 201
    model = response.json["model"]
    assert model["base_url"] == "https://api.openai.com/v1" and model["auth_type"] == "bearer"
    assert model["has_own_key"] is False and model["key_source"] is None and model["key_status"] == "missing"
    assert uuid.UUID(model["id"]) and model["shared"] is False
    anthropic = create(ada, name="claude", provider="anthropic", model_id="claude-haiku-4-5").json["model"]
    assert anthropic["auth_type"] == "x-api-key" and anthropic["base_url"] == "https://api.anthropic.com"
    assert [m["name"] for m in ada.get("/api/models").json["models"]] == ["claude", "gpt"]


def test_own_key_is_encrypted_bound_to_the_model_and_shown_only_as_preview(ada, db):
    model = create(ada, api_key=SENTINEL).json["model"]
    assert model["has_own_key"] and model["key_preview"] == "sk-…0000" and model["key_source"] == "model"
    assert SENTINEL not in str(ada.get(f"/api/models/{model['id']}").json)
    with db():
        row = LLMModel.get_by_id(model["id"])
        assert SENTINEL not in row.api_key_encrypted
        assert crypto.decrypt(row.api_key_encrypted, row.aad).reveal() == SENTINEL
        for elsewhere in (LLMModel.aad_for(row.user_id, str(uuid.uuid4())), LLMModel.aad_for(row.user_id + 1, row.id),
                          row.id):  # another model, another owner, the model id alone
            with pytest.raises(crypto.DecryptError):
                crypto.decrypt(row.api_key_encrypted, elsewhere)


def test_patch_updates_fields_and_null_key_falls_back(ada):
    model = create(ada, api_key=SENTINEL).json["model"]
    patched = ada.patch(f"/api/models/{model['id']}", json={"model_id": "gpt-4.1", "supports_tools": True})
    assert patched.status_code == 200
    assert patched.json["model"]["model_id"] == "gpt-4.1" and patched.json["model"]["has_own_key"]
    dropped = ada.patch(f"/api/models/{model['id']}", json={"api_key": None}).json["model"]
    assert dropped["has_own_key"] is False and dropped["key_preview"] is None
    ada.post("/api/secrets", json={"provider": "openai", "api_key": "sk-provider-secret-1234"})
    relying = ada.get(f"/api/models/{model['id']}").json["model"]
    assert relying["key_source"] == "provider_secret" and relying["key_preview"] == "sk-…1234"


def test_delete(ada):
    model = create(ada).json["model"]
    assert ada.delete(f"/api/models/{model['id']}").status_code == 204
    assert ada.get(f"/api/models/{model['id']}").status_code == 404
    assert ada.delete(f"/api/models/{model['id']}").status_code == 404


@pytest.mark.parametrize("fields, code", [
    ({"provider": "nope"}, "unknown_provider"),
    ({"provider": 7}, "unknown_provider"),
    ({"name": ""}, "invalid_request"),
    ({"name": "x" * 101}, "too_long"),
    ({"name": "a\x00b"}, "invalid_request"),
    ({"model_id": None}, "invalid_request"),
    ({"base_url": "ftp://example.com"}, "invalid_base_url"),
    ({"base_url": "not a url"}, "invalid_base_url"),
    ({"base_url": "https://user:pw@example.com/v1"}, "invalid_base_url"),
    ({"base_url": "https://example.com:99999/v1"}, "invalid_base_url"),
    ({"base_url": "http://example.com:0/v1"}, "invalid_base_url"),
    ({"base_url": "https://e.com/" + "x" * 500}, "too_long"),
    ({"auth_type": "basic"}, "invalid_request"),
    ({"api_key": ""}, "invalid_request"),
    ({"api_key": "sk has spaces"}, "invalid_request"),
    ({"api_key": "k" * 4097}, "too_long"),
    ({"supports_tools": "yes"}, "invalid_request"),
    ({"admin": True}, "unknown_field"),
])
def test_bad_fields_are_400_and_nothing_is_written(ada, fields, code):
    response = create(ada, **fields)
    assert response.status_code == 400, response.json
    assert response.json["error"]["code"] == code
    assert ada.get("/api/models").json["models"] == []


def test_malformed_bodies(ada):
    assert ada.post("/api/models", data="{", content_type="application/json").json["error"]["code"] == "invalid_json"
    assert ada.post("/api/models", json=[1]).status_code == 400
    assert ada.post("/api/models", data=b"x" * 600_000, content_type="application/json").status_code == 413


def test_custom_and_azure_need_a_base_url(ada):
    assert create(ada, provider="custom").json["error"]["code"] == "invalid_request"
    azure = create(ada, provider="azure")
    assert azure.status_code == 400 and "placeholder" in azure.json["error"]["message"]
    ok = create(ada, provider="azure", base_url="https://acme.openai.azure.com/openai/v1")
    assert ok.status_code == 201 and ok.json["model"]["auth_type"] == "api-key"


def test_duplicate_names_are_409_per_user(ada, bob):
    assert create(ada).status_code == 201
    duplicate = create(ada, provider="anthropic", model_id="claude")
    assert duplicate.status_code == 409 and duplicate.json["error"]["code"] == "model_exists"
    assert create(bob).status_code == 201  # names are per user
    other = create(ada, name="gpt-2").json["model"]
    assert ada.patch(f"/api/models/{other['id']}", json={"name": "gpt"}).status_code == 409


def test_other_users_model_is_404_everywhere_and_unchanged(ada, bob):
    model = create(ada, api_key=SENTINEL).json["model"]
    mid = model["id"]
    assert bob.get(f"/api/models/{mid}").status_code == 404
    assert bob.patch(f"/api/models/{mid}", json={"name": "mine"}).status_code == 404
    assert bob.patch(f"/api/models/{mid}", json={"api_key": None}).status_code == 404
    assert bob.delete(f"/api/models/{mid}").status_code == 404
    assert bob.post(f"/api/models/{mid}/test").status_code == 404
    for path in (f"/models/{mid}", f"/models/{mid}/edit"):
        assert bob.get(path, headers={"HX-Request": "true"}).status_code == 404
    for path in (f"/models/{mid}", f"/models/{mid}/delete", f"/models/{mid}/remove-key", f"/models/{mid}/test"):
        assert bob.post(path, headers={"HX-Request": "true"}).status_code == 404
    assert bob.get("/api/models").json["models"] == []
    assert ada.get(f"/api/models/{mid}").json["model"] == model


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "1", "%00", "../secrets"])
def test_ids_that_are_not_uuids_are_404(ada, bad_id):
    assert ada.get(f"/api/models/{bad_id}").status_code == 404
    assert ada.delete(f"/api/models/{bad_id}").status_code == 404


def test_public_policy_refuses_private_base_urls(app_config, tmp_path):
    from tests.helpers import make_user, sign_in
    from vault import create_app
    app = create_app({**app_config, "VAULT_BASE_URL_POLICY": "public"})
    make_user(app, "ada@example.com")
    client = sign_in(app.test_client(), "ada@example.com")
    for url in ("http://127.0.0.1:8080/v1", "http://localhost/v1", "http://10.0.0.5/v1",
                "http://192.168.1.2/v1", "http://169.254.169.254/latest", "http://[::1]/v1"):
        response = create(client, base_url=url)
        assert response.status_code == 400 and response.json["error"]["code"] == "invalid_base_url", url
    assert create(client, base_url="http://93.184.215.14/v1").status_code == 201


def test_host_warning_when_a_provider_secret_would_go_elsewhere(ada):
    ada.post("/api/secrets", json={"provider": "openai", "api_key": "sk-provider-secret-1234"})
    model = create(ada, base_url="http://10.0.0.5/v1").json["model"]
    assert model["warning"] == ("Your OpenAI key may not be sent to 10.0.0.5:80: chats will be refused until "
                                "you add that host to the secret's allowed hosts on the Secrets page.")
    assert create(ada, name="plain").json["model"]["warning"] is None
    own = create(ada, name="own", base_url="http://10.0.0.5/v1", api_key="sk-own-key-abcdef").json["model"]
    assert own["warning"] is None  # its own key, its own business


def shared_model(app, **fields):
    from vault.db import database
    values = {"name": "team-gpt", "provider": "openai", "model_id": "gpt-4o",
              "base_url": "https://api.openai.com/v1", "auth_type": "bearer", **fields}
    with app.app_context(), database.connection_context():
        return LLMModel.create(id=str(uuid.uuid4()), user=None, **values).id


def test_shared_catalog_is_visible_to_all_and_read_only(app, ada, bob):
    mid = shared_model(app)
    for client in (ada, bob):
        listed = client.get("/api/models").json["models"]
        assert [m["id"] for m in listed] == [mid] and listed[0]["shared"]
    assert ada.patch(f"/api/models/{mid}", json={"name": "x"}).status_code == 403
    assert ada.patch(f"/api/models/{mid}", json={"api_key": "sk-sneaky-key-1234"}).json["error"]["code"] == "read_only"
    assert ada.delete(f"/api/models/{mid}").status_code == 403
    ada.post("/api/secrets", json={"provider": "openai", "api_key": "sk-ada-secret-1234"})
    assert ada.get(f"/api/models/{mid}").json["model"]["key_preview"] == "sk-…1234"
    assert bob.get(f"/api/models/{mid}").json["model"]["key_source"] is None  # never ada's secret


def test_two_tabs_editing_one_model_cannot_undo_each_other(ada):
    """The review's attack: tab A renames, tab B (opened before) saves an old form and the rename
    is silently reverted, so clients using the new name get 404."""
    model = create(ada).json["model"]
    assert model["version"] == 1
    renamed = ada.patch(f"/api/models/{model['id']}", json={"name": "gpt-new", "expected_version": 1})
    assert renamed.status_code == 200 and renamed.json["model"]["version"] == 2
    stale = ada.patch(f"/api/models/{model['id']}", json={"name": "gpt", "expected_version": 1})
    assert stale.status_code == 409 and stale.json["error"]["code"] == "version_conflict"
    assert "version 2" in stale.json["error"]["message"]
    assert ada.get(f"/api/models/{model['id']}").json["model"]["name"] == "gpt-new"
    # without expected_version the write is unconditional, as before; the version still grows
    assert ada.patch(f"/api/models/{model['id']}", json={"model_id": "gpt-4.1"}).json["model"]["version"] == 3


@pytest.mark.parametrize("version", [0, -1, "2", 1.5, True, 2**31])
def test_a_bad_expected_version_is_400_and_nothing_changes(ada, version):
    model = create(ada).json["model"]
    response = ada.patch(f"/api/models/{model['id']}", json={"name": "x", "expected_version": version})
    assert response.status_code == 400
    assert ada.get(f"/api/models/{model['id']}").json["model"] | {"updated_at": None} == model | {"updated_at": None}


def test_a_model_stored_with_port_0_moves_only_with_its_key_again(ada, db):
    """Port 0 was accepted until it was refused as a base URL; such a row reads as nowhere, so
    moving it takes its key again, like any move (it once answered 500)."""
    mid = create(ada, name="zero", api_key="sk-own-key-abcdef").json["model"]["id"]
    with db():
        LLMModel.update(base_url="http://example.com:0/v1").where(LLMModel.id == mid).execute()
    moved = ada.patch(f"/api/models/{mid}", json={"base_url": "https://example.com/v1"})
    assert moved.status_code == 409 and moved.json["error"]["code"] == "key_rebind_required", moved.json
