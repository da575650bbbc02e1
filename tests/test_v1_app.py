"""The /v1 app mounted beside Flask: it owns every path under /v1, errors included, in OpenAI's
error shape with the security headers, takes a Bearer token and never the session cookie."""
import http.client
import json
from urllib.parse import urlsplit

import pytest

from tests.helpers import live, make_user, sign_in, store_secret, token_for
from vault import create_app
from vault.headers import SECURITY

CHAT = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def app(app_config, fake_provider):
    return create_app({**app_config, "VAULT_PROVIDER_BASE_URLS": f"openai={fake_provider.openai_base}"})


@pytest.fixture
def gateway(app, fake_provider):
    make_user(app, "ada@example.com")
    store_secret(app, "ada@example.com", "openai", "sk-test-openai-secret-0000")
    token = {"Authorization": f"Bearer {token_for(app, 'ada@example.com')}"}
    client = app.test_client()
    created = client.post("/api/models", headers=token, json={"name": "gpt", "provider": "openai",
                                                               "model_id": "echo"})
    assert created.status_code == 201, created.json
    return client, token


def openai_error(answer, status, code):
    assert answer.status_code == status, answer.get_data(as_text=True)
    error = answer.json["error"]
    assert error["code"] == code and set(error) == {"code", "message", "type", "param"}
    assert all(answer.headers[name] == value for name, value in SECURITY)
    assert answer.headers["Cache-Control"] == "no-store"
    return error


def test_an_unknown_v1_route_is_an_invalid_url_not_a_missing_model(gateway):
    client, token = gateway
    error = openai_error(client.post("/v1/responsez", headers=token, json={"model": "gpt"}), 404, "not_found")
    assert error["message"].startswith("Invalid URL (POST /v1/responsez)") and error["type"] == "invalid_request_error"
    assert "model" not in error["message"].split(":")[0]
    assert "/v1/chat/completions" in error["message"]  # what is served instead
    openai_error(client.get("/v1", headers=token), 404, "not_found")


def test_a_wrong_method_names_the_allowed_ones(gateway):
    client, token = gateway
    answer = client.delete("/v1/chat/completions", headers=token)
    openai_error(answer, 405, "method_not_allowed")
    assert answer.headers["Allow"] == "POST"


def test_head_answers_the_headers_of_get_without_a_body(gateway):
    client, token = gateway
    head, get = client.head("/v1/models", headers=token), client.get("/v1/models", headers=token)
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Length"] == get.headers["Content-Length"] != "0"


def test_a_session_cookie_alone_is_refused(app, gateway):
    client, _ = gateway
    sign_in(client, "ada@example.com")
    assert client.get("/api/models").status_code == 200  # the session works where sessions do
    error = openai_error(client.post("/v1/chat/completions", json={"model": "gpt", **CHAT}), 401, "unauthorized")
    assert "Bearer" in error["message"]
    assert client.get("/v1/models").status_code == 401


@pytest.mark.parametrize("header", ["Basic abc", "Bearer ", "Bearer psv_unknown", "bearer"])
def test_anything_but_a_live_token_is_401(gateway, header):
    client, _ = gateway
    openai_error(client.get("/v1/models", headers={"Authorization": header}), 401, "unauthorized")


@pytest.mark.parametrize("content_type, body, wording", [
    ("text/plain", json.dumps({"model": "gpt", **CHAT}), "application/json"),
    ("application/json", "{not json", "not valid JSON"),
    ("application/json", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("application/json", b'{"model": "\xff"}', "not valid JSON"),
])
def test_a_body_that_is_not_a_json_object_is_a_precise_400(gateway, content_type, body, wording):
    client, token = gateway
    answer = client.post("/v1/chat/completions", headers={**token, "Content-Type": content_type}, data=body)
    assert wording in openai_error(answer, 400, "invalid_json")["message"]


def test_a_chunked_body_is_read_and_an_endless_one_refused(app, gateway):
    client, token = gateway
    base, stop = live(app)
    try:
        url = urlsplit(base)
        body = json.dumps({"model": "gpt", **CHAT}).encode()
        for payload, status in ((body, 200), (b" " * (app.config["MAX_CONTENT_LENGTH"] + 10) + body, 413)):
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
            conn.request("POST", "/v1/chat/completions", body=iter([payload[:10], payload[10:]]),
                         headers={**token, "Content-Type": "application/json"}, encode_chunked=True)
            answer = conn.getresponse()
            assert answer.status == status, answer.read()
            if status == 200:
                assert json.loads(answer.read())["choices"][0]["message"]["content"] == "Echo: hi"
            conn.close()
    finally:
        stop()


@pytest.mark.parametrize("sent, passed", [("7", "7"), ("120000", "86400"), ("soon", None), ("", None)])
def test_a_providers_retry_after_is_passed_on_only_when_it_is_one(app, gateway, fake_provider, sent, passed):
    client, token = gateway
    fake_provider.retry_after = sent
    created = client.post("/api/models", headers=token, json={"name": "busy", "provider": "openai",
                                                              "model_id": "fail-429"})
    assert created.status_code == 201
    for path, field in (("/v1/chat/completions", "model"), ("/api/chat", "model_id")):
        answer = client.post(path, headers=token, json={field: "busy", **CHAT})
        assert answer.status_code == 429 and answer.json["error"]["code"] == "upstream_rate_limited"
        assert answer.headers.get("Retry-After") == passed, path


def test_every_v1_answer_carries_its_own_request_id(gateway):
    client, token = gateway
    answers = [client.get("/v1/models", headers=token), client.get("/v1/models"),
               client.post("/v1/nope", headers=token), client.post("/v1/chat/completions", headers=token,
                                                                   json={"model": "gpt", **CHAT})]
    ids = [a.headers["X-Request-Id"] for a in answers]
    assert all(i.startswith("req_") and len(i) == 28 for i in ids) and len(set(ids)) == len(ids)


def test_one_model_by_name_in_openais_shape_or_404(gateway):
    client, token = gateway
    listed = client.get("/v1/models", headers=token).json["data"]
    one = client.get("/v1/models/gpt", headers=token)
    assert one.status_code == 200 and one.json == next(m for m in listed if m["id"] == "gpt")
    error = openai_error(client.get("/v1/models/nope", headers=token), 404, "not_found")
    assert error["message"] == "No such model."


def test_doubled_slashes_are_an_invalid_url_not_a_500(gateway):
    client, token = gateway
    openai_error(client.get("/v1//models", headers=token), 404, "not_found")


def test_a_model_name_in_utf8_is_found_in_the_path(gateway):
    client, token = gateway
    assert client.post("/api/models", headers=token, json={"name": "café", "provider": "openai",
                                                           "model_id": "echo"}).status_code == 201
    found = client.get("/v1/models/caf%C3%A9", headers=token)
    assert found.status_code == 200 and found.json["id"] == "café"
