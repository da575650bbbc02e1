"""The chat lane (vault/chat/lane.py): a valid token's JSON chat request is answered before
Flask, with the same answers, errors and headers; everything else is left to Flask."""
import pytest

from tests.helpers import make_user, sign_in, store_secret, token_for
from vault import create_app
from vault.chat.lane import ANSWERS
from vault.db import ProviderSecret, database

SECRET = "sk-lane-SENTINEL-2222"
MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture
def gateway(app_config, fake_provider):
    app = create_app({**app_config, "VAULT_UPSTREAM_TIMEOUT": 1.0,
                      "VAULT_PROVIDER_BASE_URLS": f"openai={fake_provider.openai_base}"})
    make_user(app, "ada@example.com")
    store_secret(app, "ada@example.com", "openai", SECRET)
    return app


@pytest.fixture
def ada(gateway):
    return sign_in(gateway.test_client(), "ada@example.com")


@pytest.fixture
def token(gateway):
    return token_for(gateway, "ada@example.com")


@pytest.fixture
def flask_saw(gateway):
    """The paths of the requests the lane handed on to Flask."""
    seen, flask = [], gateway.wsgi_app.flask

    def recording(environ, start_response):
        seen.append(environ["PATH_INFO"])
        return flask(environ, start_response)

    gateway.wsgi_app.flask = recording
    return seen


def add_model(ada, name, model_id):
    response = ada.post("/api/models", json={"name": name, "provider": "openai", "model_id": model_id})
    assert response.status_code == 201, response.json
    return response.json["model"]["id"]


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_a_token_request_is_answered_before_flask_with_every_header(gateway, ada, token, flask_saw):
    mid = add_model(ada, "gpt", "echo")
    client = gateway.test_client()
    flask_saw.clear()
    answers = [client.post("/v1/chat/completions", json={"model": "gpt", "messages": MESSAGES}, headers=bearer(token)),
               client.post("/api/chat", json={"model_id": mid, "messages": MESSAGES}, headers=bearer(token)),
               client.post("/api/chat", json={"model_id": mid, "messages": MESSAGES, "stream": True},
                           headers=bearer(token), buffered=True)]
    assert flask_saw == []
    for response in answers:
        assert response.status_code == 200
        assert response.headers["X-Key-Source"] == "provider_secret"
        assert float(response.headers["X-Vault-Overhead-Ms"]) >= 0
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"
        assert "Set-Cookie" not in response.headers
    assert answers[0].json["choices"][0]["message"]["content"]
    assert answers[2].headers["X-Accel-Buffering"] == "no"
    assert '"type":"done"' in answers[2].get_data(as_text=True)


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/api/chat"])
def test_requests_the_lane_is_not_sure_of_go_to_flask(gateway, ada, token, flask_saw, path):
    add_model(ada, "gpt", "echo")
    client = gateway.test_client()
    body = {"model": "gpt", "model_id": "gpt", "messages": MESSAGES}
    cases = [  # (request, status, error code)
        (dict(json=body), 401, "unauthorized"),
        (dict(json=body, headers=bearer("psv_not-a-token")), 401, "unauthorized"),
        (dict(data="{not json", content_type="application/json", headers=bearer(token)), 400, "invalid_json"),
        (dict(json=[body], headers=bearer(token)), 400, "invalid_json"),
        (dict(data="model=gpt", content_type="application/x-www-form-urlencoded", headers=bearer(token)),
         400, "invalid_json"),
        (dict(json={**body, "pad": "x" * 600_000}, headers=bearer(token)), 413, "payload_too_large"),
    ]
    for request, status, code in cases:
        flask_saw.clear()
        response = client.post(path, **request)
        assert (response.status_code, response.json["error"]["code"]) == (status, code), request
        assert flask_saw == [path]
        assert response.headers["Cache-Control"] == "no-store"
    flask_saw.clear()
    assert client.get(path, headers=bearer(token)).status_code == 405
    assert flask_saw == [path]


def test_the_lane_renders_errors_as_flask_does(gateway, ada, token, flask_saw, fake_provider):
    """The same failure through the lane (token) and through Flask (session) reads the same."""
    mid = add_model(ada, "broken", "fail-500")
    client = gateway.test_client()
    request = {"json": {"model_id": mid, "messages": MESSAGES}}
    flask_saw.clear()
    by_token = client.post("/api/chat", headers=bearer(token), **request)
    assert flask_saw == []
    by_session = ada.post("/api/chat", **request)
    assert flask_saw == ["/api/chat"]
    assert by_token.status_code == by_session.status_code == 502
    assert by_token.json == by_session.json and by_token.json["error"]["code"] == "upstream_error"
    openai = client.post("/v1/chat/completions", json={"model": "nope", "messages": MESSAGES}, headers=bearer(token))
    assert openai.status_code == 404
    assert openai.json["error"]["type"] == "not_found_error" and openai.json["error"]["code"] == "not_found"


def test_an_unreadable_stored_key_is_a_500_naming_the_row_not_the_key(gateway, ada, token, flask_saw):
    add_model(ada, "gpt", "echo")
    other = store_secret(gateway, "ada@example.com", "anthropic", "sk-ant-lane-other-3333")
    with gateway.app_context(), database.connection_context():
        ProviderSecret.update(api_key_encrypted=other.api_key_encrypted).where(
            ProviderSecret.provider == "openai").execute()
    flask_saw.clear()
    response = gateway.test_client().post("/v1/chat/completions", headers=bearer(token),
                                          json={"model": "gpt", "messages": MESSAGES})
    assert flask_saw == []
    assert response.status_code == 500 and response.json["error"]["code"] == "stored_key_unreadable"
    assert "openai provider secret" in response.json["error"]["message"]
    assert SECRET not in response.get_data(as_text=True) and "sk-ant" not in response.get_data(as_text=True)


def test_a_revoked_or_expired_token_is_refused_on_the_lane_too(gateway, ada, flask_saw):
    import datetime as dt
    from vault.db import ApiToken, utcnow
    add_model(ada, "gpt", "echo")
    client, body = gateway.test_client(), {"model": "gpt", "messages": MESSAGES}
    for change in ({"revoked_at": utcnow()}, {"expires_at": utcnow() - dt.timedelta(seconds=1)}):
        token = token_for(gateway, "ada@example.com", name=str(change))
        assert client.post("/v1/chat/completions", json=body, headers=bearer(token)).status_code == 200
        with gateway.app_context(), database.connection_context():
            ApiToken.update(**change).where(ApiToken.name == str(change)).execute()
        flask_saw.clear()
        refused = client.post("/v1/chat/completions", json=body, headers=bearer(token))
        assert refused.status_code == 401 and refused.json["error"]["type"] == "authentication_error"
        assert flask_saw == ["/v1/chat/completions"]


def test_a_body_that_cannot_be_read_is_left_to_flask(gateway, token):
    class Broken:
        def read(self, *args):
            raise OSError("client went away")

    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/api/chat", "CONTENT_TYPE": "application/json",
               "CONTENT_LENGTH": "20", "HTTP_AUTHORIZATION": f"Bearer {token}", "wsgi.input": Broken()}
    assert gateway.wsgi_app.respond(*ANSWERS["/api/chat"], "/api/chat", environ, 0.0) is None


@pytest.mark.parametrize("path, field, stream", [("/v1/chat/completions", "model", False),
                                                  ("/v1/chat/completions", "model", True),
                                                  ("/api/chat", "model_id", False)])
def test_a_chat_holds_no_database_connection_while_the_provider_answers(
        app_config, fake_provider, path, field, stream):
    """With a pool of one connection, a second request is served while a slow chat is waiting."""
    import threading
    import time
    app = create_app({**app_config, "VAULT_DB_POOL_SIZE": 1, "VAULT_UPSTREAM_TIMEOUT": 5.0,
                      "VAULT_PROVIDER_BASE_URLS": f"openai={fake_provider.openai_base}"})
    make_user(app, "ada@example.com")
    store_secret(app, "ada@example.com", "openai", SECRET)
    token = token_for(app, "ada@example.com")
    add_model(sign_in(app.test_client(), "ada@example.com"), "slow", "slow")
    fake_provider.slow_seconds = 2.0
    slow = threading.Thread(target=lambda: app.test_client().post(
        path, json={field: "slow", "messages": MESSAGES, "stream": stream}, headers=bearer(token), buffered=True))
    slow.start()
    while not fake_provider.calls:  # the chat has reached the provider, which now sleeps
        time.sleep(0.01)
    assert app.test_client().get("/api/models", headers=bearer(token)).status_code == 200
    assert slow.is_alive(), "the second request waited for the chat's connection"
    slow.join()
