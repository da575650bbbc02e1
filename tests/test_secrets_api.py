"""Provider secrets through /api/secrets and /api/providers: shapes, statuses, validation,
versions, expiry, the audit trail, and parallel writers."""
import datetime as dt
import re

import pytest

from tests.helpers import released_together, token_for

from vault import resolver
from vault.db import AuditEvent, LLMModel, ProviderSecret, User, utcnow

SECRET_FIELDS = {"provider", "key_preview", "fingerprint", "version", "expires_at", "created_at",
                 "updated_at", "last_used_at", "last_check_status", "models_using", "allowed_hosts"}
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
KEY = "sk-proj-abcdefghijklmnop9f2c"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def add(client, provider="openai", api_key=KEY, **extra):
    return client.post("/api/secrets", json={"provider": provider, "api_key": api_key, **extra})


def error_code(response):
    return response.json["error"]["code"]


def test_create_answers_201_with_the_design_shape(ada):
    response = add(ada)
    assert response.status_code == 201
    secret = response.json["secret"]
    assert set(secret) == SECRET_FIELDS
    assert secret["provider"] == "openai" and secret["version"] == 1
    assert secret["key_preview"] == "sk-proj-…9f2c"
    assert re.fullmatch(r"sha256:[0-9a-f]{8}", secret["fingerprint"])
    assert ISO_Z.match(secret["created_at"]) and ISO_Z.match(secret["updated_at"])
    assert secret["expires_at"] is None and secret["last_used_at"] is None
    assert secret["last_check_status"] is None and secret["models_using"] == 0
    assert response.headers["Location"] == "/api/secrets/openai"
    assert KEY not in response.get_data(as_text=True)


def test_fingerprint_matches_sha256sum_of_the_stripped_key(ada):
    import hashlib
    secret = add(ada, api_key=f"  {KEY}\n").json["secret"]
    assert secret["fingerprint"] == "sha256:" + hashlib.sha256(KEY.encode()).hexdigest()[:8]


def test_list_get_and_providers(ada):
    assert ada.get("/api/secrets").json == {"secrets": []}
    add(ada)
    add(ada, "anthropic", "sk-ant-0123456789abcdef")
    listed = ada.get("/api/secrets").json["secrets"]
    assert [s["provider"] for s in listed] == ["anthropic", "openai"]
    assert ada.get("/api/secrets/openai").json["secret"] == next(s for s in listed if s["provider"] == "openai")
    providers = {p["id"]: p for p in ada.get("/api/providers").json["providers"]}
    assert set(providers["openai"]) == {"id", "label", "default_base_url", "auth_type", "has_secret"}
    assert providers["openai"]["has_secret"] and providers["anthropic"]["has_secret"]
    assert not providers["groq"]["has_secret"]
    assert providers["anthropic"]["auth_type"] == "x-api-key"
    assert providers["openai"]["default_base_url"] == "https://api.openai.com/v1"
    assert {"openai", "anthropic", "huggingface", "google", "mistral", "groq", "together", "openrouter",
            "deepseek", "xai", "azure", "ollama", "custom"} <= set(providers)


def test_providers_show_base_url_overrides(app_config, tmp_path):
    from tests.helpers import make_user, sign_in
    from vault import create_app
    app = create_app({**app_config, "VAULT_PROVIDER_BASE_URLS": "openai=https://proxy.corp/v1"})
    make_user(app, "ada@example.com")
    client = sign_in(app.test_client(), "ada@example.com")
    providers = {p["id"]: p for p in client.get("/api/providers").json["providers"]}
    assert providers["openai"]["default_base_url"] == "https://proxy.corp/v1"


def test_models_using_counts_own_models_without_their_own_key(ada, db):
    with db():
        user = User.get(User.email == "ada@example.com")
        for name, own in (("a", None), ("b", None), ("c", "v1.x.y")):
            LLMModel.create(user=user, name=name, provider="openai", model_id="gpt-4o",
                            base_url="https://api.openai.com/v1", auth_type="bearer", api_key_encrypted=own)
        LLMModel.create(user=None, name="shared", provider="openai", model_id="gpt-4o",
                        base_url="https://api.openai.com/v1", auth_type="bearer")
    assert add(ada).json["secret"]["models_using"] == 2
    assert ada.get("/api/secrets").json["secrets"][0]["models_using"] == 2


def test_second_secret_for_a_provider_is_409_secret_exists(ada):
    assert add(ada).status_code == 201
    response = add(ada, api_key="sk-another-key-000000")
    assert response.status_code == 409 and error_code(response) == "secret_exists"
    assert ada.get("/api/secrets/openai").json["secret"]["key_preview"] == "sk-proj-…9f2c"


@pytest.mark.parametrize("body, code", [
    ({"provider": "nope", "api_key": KEY}, "unknown_provider"),
    ({"provider": "OpenAI", "api_key": KEY}, "unknown_provider"),
    ({"api_key": KEY}, "invalid_request"),
    ({"provider": 7, "api_key": KEY}, "invalid_request"),
    ({"provider": "openai"}, "invalid_api_key"),
    ({"provider": "openai", "api_key": ""}, "invalid_api_key"),
    ({"provider": "openai", "api_key": "   \t "}, "invalid_api_key"),
    ({"provider": "openai", "api_key": 12345}, "invalid_api_key"),
    ({"provider": "openai", "api_key": None}, "invalid_api_key"),
    ({"provider": "openai", "api_key": "sk-abc def-0000000"}, "invalid_api_key"),
    ({"provider": "openai", "api_key": "sk-abc\ndef-0000000"}, "invalid_api_key"),
    ({"provider": "openai", "api_key": "sk-abc\x00def-0000000"}, "invalid_api_key"),
    ({"provider": "openai", "api_key": "sk-abc\x7fdef-0000000"}, "invalid_api_key"),
    ({"provider": "openai", "api_key": "sk-clé-000000000000"}, "invalid_api_key"),
    ({"provider": "openai", "api_key": "sk-" + "x" * 4094}, "invalid_api_key"),
    ({"provider": "openai", "api_key": KEY, "expires_at": "next tuesday"}, "invalid_expires_at"),
    ({"provider": "openai", "api_key": KEY, "expires_at": 1893456000}, "invalid_expires_at"),
    ({"provider": "openai", "api_key": KEY, "admin": True}, "unknown_field"),
])
def test_bad_create_bodies_are_400(ada, body, code):
    response = ada.post("/api/secrets", json=body)
    assert response.status_code == 400, response.json
    assert error_code(response) == code and response.json["error"]["message"]
    assert ada.get("/api/secrets").json["secrets"] == []


def test_key_of_exactly_4096_characters_is_accepted(ada):
    assert add(ada, api_key="sk-" + "x" * 4093).status_code == 201


def test_malformed_and_oversized_bodies(ada):
    response = ada.post("/api/secrets", data="{not json", content_type="application/json")
    assert response.status_code == 400 and error_code(response) == "invalid_json"
    assert error_code(ada.post("/api/secrets", json=["openai", KEY])) == "invalid_json"
    assert ada.post("/api/secrets", data="provider=openai", content_type="text/plain").status_code == 400
    huge = ada.post("/api/secrets", data=b'{"provider":"openai","api_key":"' + b"x" * (1024 * 1024) + b'"}',
                    content_type="application/json")
    assert huge.status_code == 413 and error_code(huge) == "payload_too_large"
    add(ada)
    assert error_code(ada.put("/api/secrets/openai", data="[", content_type="application/json")) == "invalid_json"
    assert ada.get("/api/secrets").json["secrets"][0]["version"] == 1


def test_rotation_bumps_version_and_changes_preview(ada):
    first = add(ada).json["secret"]
    response = ada.put("/api/secrets/openai", json={"api_key": "sk-rotated-key-000000a1b2"})
    assert response.status_code == 200
    secret = response.json["secret"]
    assert secret["version"] == 2 and secret["key_preview"] == "sk-…a1b2"
    assert secret["fingerprint"] != first["fingerprint"] and secret["created_at"] == first["created_at"]
    again = ada.put("/api/secrets/openai", json={"api_key": "sk-rotated-key-000000a1b3", "expected_version": 2})
    assert again.status_code == 200 and again.json["secret"]["version"] == 3


def test_stale_expected_version_is_409_and_changes_nothing(ada):
    add(ada)
    ada.put("/api/secrets/openai", json={"api_key": "sk-second-key-00000000", "expected_version": 1})
    stale = ada.put("/api/secrets/openai", json={"api_key": "sk-third-key-000000000", "expected_version": 1})
    assert stale.status_code == 409 and error_code(stale) == "version_conflict"
    assert "version 2" in stale.json["error"]["message"]
    secret = ada.get("/api/secrets/openai").json["secret"]
    assert secret["version"] == 2 and secret["key_preview"] == "sk-…0000"


def test_put_validates_its_body(ada):
    add(ada)
    for body, code in (({}, "invalid_request"), ({"api_key": ""}, "invalid_api_key"),
                       ({"api_key": "sk a b"}, "invalid_api_key"),
                       ({"api_key": KEY, "expected_version": "1"}, "invalid_request"),
                       ({"api_key": KEY, "expected_version": True}, "invalid_request"),
                       ({"api_key": KEY, "expected_version": 0}, "invalid_request"),
                       ({"api_key": KEY, "provider": "anthropic"}, "unknown_field"),
                       ({"expires_at": "31/12/2030"}, "invalid_expires_at")):
        response = ada.put("/api/secrets/openai", json=body)
        assert response.status_code == 400 and error_code(response) == code, body
    assert ada.get("/api/secrets/openai").json["secret"]["version"] == 1


def test_missing_secret_is_404_on_every_route(ada):
    for method, path in (("get", "/api/secrets/openai"), ("put", "/api/secrets/openai"),
                         ("delete", "/api/secrets/openai"), ("post", "/api/secrets/openai/check"),
                         ("get", "/api/secrets/openai/history"), ("get", "/api/secrets/nope"),
                         ("delete", "/api/secrets/nope")):
        kwargs = {"json": {"api_key": KEY}} if method == "put" else {}
        response = getattr(ada, method)(path, **kwargs)
        assert response.status_code == 404 and error_code(response) == "not_found", path


def test_delete_answers_204_then_404(ada):
    add(ada)
    response = ada.delete("/api/secrets/openai")
    assert response.status_code == 204 and response.get_data() == b""
    assert ada.get("/api/secrets/openai").status_code == 404
    assert ada.delete("/api/secrets/openai").status_code == 404
    assert add(ada).json["secret"]["version"] == 1  # a fresh secret starts over


def test_expires_at_is_stored_in_utc_changed_and_cleared(ada):
    secret = add(ada, expires_at="2031-02-03T04:05:06+02:00").json["secret"]
    assert secret["expires_at"] == "2031-02-03T02:05:06Z"
    moved = ada.put("/api/secrets/openai", json={"expires_at": "2032-01-01"}).json["secret"]
    assert moved["expires_at"] == "2032-01-01T00:00:00Z" and moved["version"] == 2
    assert moved["key_preview"] == secret["key_preview"]
    rotated = ada.put("/api/secrets/openai", json={"api_key": "sk-newer-key-0000000000"}).json["secret"]
    assert rotated["expires_at"] == "2032-01-01T00:00:00Z"  # a rotation alone keeps the expiry
    cleared = ada.put("/api/secrets/openai", json={"expires_at": None}).json["secret"]
    assert cleared["expires_at"] is None and cleared["version"] == 4


def test_expired_secret_is_listed_but_not_used(app, ada, db):
    add(ada, expires_at="2001-01-01T00:00:00Z")
    assert ada.get("/api/secrets/openai").json["secret"]["expires_at"] == "2001-01-01T00:00:00Z"
    with app.test_request_context(), db():
        user = User.get(User.email == "ada@example.com")
        with pytest.raises(resolver.ExpiredApiKey):
            resolver.resolve_unsaved(user, "openai", "https://api.openai.com/v1", "bearer")
    ada.put("/api/secrets/openai", json={"expires_at": None})
    with app.test_request_context(), db():
        target = resolver.resolve_unsaved(User.get(), "openai", "https://api.openai.com/v1", "bearer")
        assert target.key_source == "provider_secret" and target.key.reveal() == KEY


def test_history_records_every_change_newest_first_without_key_material(ada, db):
    add(ada)
    ada.put("/api/secrets/openai", json={"api_key": "sk-rotated-key-0000000000"})
    ada.put("/api/secrets/openai", json={"api_key": "sk-stale-key-0000000000", "expected_version": 1})
    ada.put("/api/secrets/openai", json={"expires_at": "2040-01-01"})
    events = ada.get("/api/secrets/openai/history").json["events"]
    assert [(e["action"], e["outcome"], e["version"]) for e in events] == [
        ("update", "ok", 3), ("rotate", "conflict", 2), ("rotate", "ok", 2), ("create", "ok", 1)]
    assert all(set(e) == {"action", "at", "outcome", "version", "detail"} and ISO_Z.match(e["at"]) for e in events)
    ada.delete("/api/secrets/openai")
    with db():
        rows = [(e.action, e.subject, e.outcome, e.version) for e in AuditEvent.select()]
    assert ("secret.delete", "secret:openai", "ok", 3) in rows
    assert not any("sk-" in str(row) for row in rows)


def test_unauthenticated_requests_get_401_json(client):
    from tests.helpers import csrf_from
    # With a CSRF token (so the app-wide CSRF check passes), login is what refuses: 401 JSON.
    client.environ_base["HTTP_X_CSRFTOKEN"] = csrf_from(client.get("/login"))
    for method, path in (("get", "/api/providers"), ("get", "/api/secrets"), ("post", "/api/secrets"),
                         ("get", "/api/secrets/openai"), ("put", "/api/secrets/openai"),
                         ("delete", "/api/secrets/openai"), ("post", "/api/secrets/openai/check"),
                         ("get", "/api/secrets/openai/history")):
        response = getattr(client, method)(path, json={"provider": "openai", "api_key": KEY})
        assert response.status_code == 401 and error_code(response) == "unauthorized", path
        bad = getattr(client, method)(path, headers=bearer("psv_wrong"))
        assert bad.status_code == 401 and error_code(bad) == "unauthorized", path


def test_bearer_token_works_without_csrf_and_session_needs_it(app, ada):
    token = token_for(app, "ada@example.com")
    other = app.test_client()
    assert other.post("/api/secrets", json={"provider": "openai", "api_key": KEY},
                      headers=bearer(token)).status_code == 201
    assert other.get("/api/secrets/openai", headers=bearer(token)).status_code == 200
    del ada.environ_base["HTTP_X_CSRFTOKEN"]
    refused = ada.put("/api/secrets/openai", json={"api_key": "sk-no-csrf-000000000"})
    assert refused.status_code == 403 and error_code(refused) == "csrf_failed"
    assert ada.get("/api/secrets/openai").json["secret"]["version"] == 1


def run_parallel(app, token, count, request):
    """`count` threads, each with its own test client, released together."""
    def prepare(i):
        client = app.test_client()

        def act():
            response = request(client, i)
            return response.status_code, (response.json or {}).get("error", {}).get("code")
        return act
    return released_together(count, prepare)


def test_parallel_creates_give_exactly_one_201_and_409s(app, ada, db):
    token = token_for(app, "ada@example.com")
    results = run_parallel(app, token, 8, lambda c, i: c.post(
        "/api/secrets", json={"provider": "openai", "api_key": f"sk-race-{i:016d}"}, headers=bearer(token)))
    assert sorted(results, key=str) == [(201, None)] + [(409, "secret_exists")] * 7
    with db():
        assert ProviderSecret.select().count() == 1
        assert AuditEvent.select().where(AuditEvent.action == "secret.create",
                                         AuditEvent.outcome == "ok").count() == 1


def test_parallel_rotations_of_one_version_give_one_200(app, ada):
    add(ada)
    token = token_for(app, "ada@example.com")
    results = run_parallel(app, token, 6, lambda c, i: c.put(
        "/api/secrets/openai", json={"api_key": f"sk-rot-{i:016d}", "expected_version": 1},
        headers=bearer(token)))
    assert sorted(results, key=str) == [(200, None)] + [(409, "version_conflict")] * 5
    assert ada.get("/api/secrets/openai").json["secret"]["version"] == 2


def test_parallel_rotations_without_version_all_apply(app, ada):
    add(ada)
    token = token_for(app, "ada@example.com")
    results = run_parallel(app, token, 6, lambda c, i: c.put(
        "/api/secrets/openai", json={"api_key": f"sk-rot-{i:016d}"}, headers=bearer(token)))
    assert results == [(200, None)] * 6
    assert ada.get("/api/secrets/openai").json["secret"]["version"] == 7


def test_updated_at_moves_and_last_used_comes_from_the_resolver(app, ada, db):
    add(ada)
    with db():
        ProviderSecret.update(updated_at=utcnow() - dt.timedelta(days=1),
                              last_used_at=utcnow() - dt.timedelta(hours=1)).execute()
    before = ada.get("/api/secrets/openai").json["secret"]
    after = ada.put("/api/secrets/openai", json={"api_key": "sk-rotated-key-0000000000"}).json["secret"]
    assert after["updated_at"] > before["updated_at"]
    assert after["last_used_at"] == before["last_used_at"] and ISO_Z.match(after["last_used_at"])
