"""POST /api/chat against the fake provider: answers, streams, tools, every upstream error,
the key chosen by the resolver, isolation, and the usage ledger."""
import json
import time

import pytest
import requests

from tests.helpers import live, make_user, sign_in, store_secret, token_for
from vault import create_app

SECRET = "sk-test-SENTINEL-0000"
ANTHROPIC_SECRET = "sk-ant-test-SENTINEL-1111"


@pytest.fixture
def gateway(app_config, fake_provider):
    app = create_app({**app_config, "VAULT_UPSTREAM_TIMEOUT": 1.0, "VAULT_PROVIDER_BASE_URLS":
                      f"openai={fake_provider.openai_base},anthropic={fake_provider.anthropic_base}"})
    make_user(app, "ada@example.com")
    store_secret(app, "ada@example.com", "openai", SECRET)
    store_secret(app, "ada@example.com", "anthropic", ANTHROPIC_SECRET)
    return app


@pytest.fixture
def ada(gateway):
    return sign_in(gateway.test_client(), "ada@example.com")


def add_model(client, name, model_id, provider="openai", **fields):
    response = client.post("/api/models", json={"name": name, "provider": provider, "model_id": model_id, **fields})
    assert response.status_code == 201, response.json
    return response.json["model"]["id"]


def chat(client, model, text="hello", stream=False, **extra):
    # buffered: the test client then closes the response, which is when the ledger is written
    return client.post("/api/chat", buffered=True, json={"model_id": model, "stream": stream,
                                                         "messages": [{"role": "user", "content": text}], **extra})


def events(response):
    body = response.get_data(as_text=True)
    return [json.loads(line[6:]) for line in body.split("\n") if line.startswith("data: ")]


def test_non_streamed_answer_uses_the_provider_secret(ada, fake_provider):
    mid = add_model(ada, "gpt", "echo")
    response = chat(ada, mid, "ping")
    assert response.status_code == 200, response.json
    answer = response.json
    assert "ping" in answer["content"] and answer["finish_reason"] == "stop"
    assert answer["key_source"] == "provider_secret" and answer["tool_calls"] == []
    assert answer["usage"]["prompt_tokens"] > 0 and answer["usage"]["completion_tokens"] > 0
    assert response.headers["X-Key-Source"] == "provider_secret"
    assert float(response.headers["X-Vault-Overhead-Ms"]) >= 0
    assert fake_provider.keys_seen() == [SECRET]
    assert SECRET not in fake_provider.calls[0]["path"]


def test_model_can_be_named_instead_of_id(ada, fake_provider):
    add_model(ada, "gpt", "echo")
    assert chat(ada, "gpt").status_code == 200


def test_own_key_wins_and_anthropic_gets_x_api_key(ada, fake_provider):
    own = add_model(ada, "own", "echo", api_key="sk-own-model-key-7777")
    claude = add_model(ada, "claude", "claude-haiku-4-5", provider="anthropic")
    assert chat(ada, own).headers["X-Key-Source"] == "model"
    answer = chat(ada, claude, "bonjour")
    assert answer.status_code == 200 and "bonjour" in answer.json["content"]
    assert fake_provider.keys_seen() == ["sk-own-model-key-7777", ANTHROPIC_SECRET]
    assert fake_provider.calls[1]["headers"]["anthropic-version"]


def test_stream_relays_deltas_then_exactly_one_done(ada):
    response = chat(ada, add_model(ada, "gpt", "echo"), "stream me", stream=True)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    assert response.headers["X-Accel-Buffering"] == "no" and response.headers["X-Key-Source"] == "provider_secret"
    seen = events(response)
    assert [e["type"] for e in seen[:-1]] == ["delta"] * (len(seen) - 1) and seen[-1]["type"] == "done"
    assert "stream me" in "".join(e["content"] for e in seen[:-1])
    assert seen[-1]["usage"]["completion_tokens"] > 0 and seen[-1]["finish_reason"] == "stop"


@pytest.mark.parametrize("provider, model", [("openai", "tools"), ("anthropic", "tools")])
def test_tool_calls_both_wires(ada, provider, model):
    mid = add_model(ada, "t", model, provider=provider)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    whole = chat(ada, mid, "weather?", tools=tools).json
    assert whole["finish_reason"] == "tool_calls"
    assert [c["function"]["name"] for c in whole["tool_calls"]] == ["get_weather", "get_time"]
    assert json.loads(whole["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris", "unit": "celsius"}
    streamed = [e for e in events(chat(ada, mid, "weather?", stream=True, tools=tools)) if e["type"] == "tool_call"]
    assert [c["name"] for c in streamed] == ["get_weather", "get_time"]
    assert json.loads(streamed[1]["arguments"]) == {"zone": "Europe/Paris"}


ERRORS = [("fail-401", "upstream_auth", 502), ("fail-403", "upstream_auth", 502),
          ("fail-429", "upstream_rate_limited", 429), ("fail-500", "upstream_error", 502),
          ("garbage", "upstream_bad_response", 502), ("slow", "upstream_timeout", 504)]


@pytest.mark.parametrize("model, code, status", ERRORS)
def test_upstream_failures_map_to_clear_errors(ada, fake_provider, model, code, status, caplog):
    mid = add_model(ada, "m", model)
    whole = chat(ada, mid)
    assert whole.status_code == status and whole.json["error"]["code"] == code
    streamed = events(chat(ada, mid, stream=True))
    assert streamed[-1]["type"] == "error" and streamed[-1]["error"]["code"] == code
    assert [e["type"] for e in streamed].count("error") == 1 and "done" not in [e["type"] for e in streamed]
    for text in (whole.get_data(as_text=True), json.dumps(streamed), caplog.text):
        assert SECRET not in text and "UPSTREAM-BODY-MARKER" not in text
    if code == "upstream_auth":
        assert "provider secret" in whole.json["error"]["message"]


def test_unreachable_provider(ada, refused_url):
    mid = add_model(ada, "gone", "echo", base_url=refused_url, api_key="sk-own-key-for-a-closed-port")
    assert chat(ada, mid).json["error"]["code"] == "upstream_unreachable"
    assert events(chat(ada, mid, stream=True))[-1]["error"]["code"] == "upstream_unreachable"


@pytest.mark.parametrize("model", ["cut", "cut-clean", "stream-error"])
def test_a_stream_cut_by_the_provider_ends_with_an_error_event(ada, model):
    seen = events(chat(ada, add_model(ada, "c", model), stream=True))
    assert seen[-1]["type"] == "error" and [e["type"] for e in seen].count("error") == 1


def test_missing_key_fails_before_any_upstream_call(ada, fake_provider):
    mid = add_model(ada, "m", "echo", provider="groq", base_url=fake_provider.openai_base)
    for stream in (False, True):
        response = chat(ada, mid, stream=stream)
        assert response.status_code == 400 and response.json["error"]["code"] == "missing_api_key"
        assert "Groq" in response.json["error"]["message"]
    assert fake_provider.calls == []


def test_another_users_model_is_404_with_no_upstream_call(gateway, ada, fake_provider):
    mid = add_model(ada, "gpt", "echo")
    make_user(gateway, "bob@example.com")
    bob = sign_in(gateway.test_client(), "bob@example.com")
    bob_token = token_for(gateway, "bob@example.com")
    assert chat(bob, mid).status_code == 404
    assert chat(bob, "gpt", stream=True).status_code == 404
    assert gateway.test_client().post("/api/chat", headers={"Authorization": f"Bearer {bob_token}"}, json={
        "model_id": mid, "messages": [{"role": "user", "content": "x"}]}).status_code == 404
    assert fake_provider.calls == []


@pytest.mark.parametrize("body, fragment", [
    ({"messages": [{"role": "user", "content": "x"}]}, "model_id"),
    ({"model_id": "gpt", "messages": []}, "messages"),
    ({"model_id": "gpt", "messages": "hi"}, "messages"),
    ({"model_id": "gpt", "messages": [{"role": "robot", "content": "x"}]}, "role"),
    ({"model_id": "gpt", "messages": [{"role": "user", "content": 5}]}, "content"),
    ({"model_id": "gpt", "messages": [{"role": "user", "content": "x"}], "temperature": 9}, "temperature"),
    ({"model_id": "gpt", "messages": [{"role": "user", "content": "x"}], "max_tokens": "9"}, "max_tokens"),
    ({"model_id": "gpt", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}, "stream"),
    ({"model_id": "gpt", "messages": [{"role": "user", "content": "x"}], "tools": [{}]}, "tools"),
    ({"model_id": "gpt", "messages": [{"role": "user", "content": "x"}], "surprise": 1}, "surprise"),
])
def test_bad_bodies_are_400_with_the_field_named(ada, fake_provider, body, fragment):
    add_model(ada, "gpt", "echo")
    response = ada.post("/api/chat", json=body)
    assert response.status_code == 400 and fragment in response.json["error"]["message"]
    assert ada.post("/api/chat", data="{", content_type="application/json").json["error"]["code"] == "invalid_json"
    assert fake_provider.calls == []


def test_usage_ledger_counts_requests_tokens_and_errors(ada):
    mid = add_model(ada, "gpt", "echo")
    bad = add_model(ada, "bad", "fail-500")
    chat(ada, mid)
    chat(ada, mid, stream=True)
    chat(ada, bad)
    rows = {r["model"]: r for r in ada.get("/api/usage?days=30").json["usage"]}
    assert rows["gpt"]["requests"] == 2 and rows["gpt"]["errors"] == 0
    assert rows["gpt"]["prompt_tokens"] > 0 and rows["gpt"]["completion_tokens"] > 0
    assert rows["gpt"]["key_source"] == "provider_secret" and rows["gpt"]["provider"] == "openai"
    assert rows["bad"]["requests"] == 1 and rows["bad"]["errors"] == 1
    assert ada.get("/api/usage?days=0").status_code == 400


def test_first_chunk_arrives_while_the_provider_is_still_sending(gateway, fake_provider):
    fake_provider.drip_interval, fake_provider.drip_count = 0.15, 6
    base, stop = live(gateway)
    try:
        token = token_for(gateway, "ada@example.com")
        headers = {"Authorization": f"Bearer {token}"}
        for model in ("drip", "close-delimited"):
            requests.post(f"{base}/api/models", headers=headers, json={"name": model, "provider": "openai",
                                                                       "model_id": model})
            arrivals = []
            with requests.post(f"{base}/api/chat", headers=headers, stream=True, json={
                    "model_id": model, "stream": True, "messages": [{"role": "user", "content": "a b c d e f"}]}) as r:
                for line in r.iter_lines(chunk_size=1):
                    if line.startswith(b"data: "):
                        arrivals.append((time.monotonic(), json.loads(line[6:])["type"]))
            deltas = [at for at, kind in arrivals if kind == "delta"]
            assert len(deltas) >= 5 and arrivals[-1][1] == "done", model
            assert deltas[-1] - deltas[0] > 0.5, f"{model}: events arrived together (buffered)"
    finally:
        stop()


def test_client_leaving_mid_stream_closes_the_upstream(gateway, fake_provider):
    base, stop = live(gateway)
    try:
        token = token_for(gateway, "ada@example.com")
        headers = {"Authorization": f"Bearer {token}"}
        requests.post(f"{base}/api/models", headers=headers, json={"name": "long", "provider": "openai",
                                                                   "model_id": "long"})
        r = requests.post(f"{base}/api/chat", headers=headers, stream=True, json={
            "model_id": "long", "stream": True, "messages": [{"role": "user", "content": "go"}]})
        next(r.iter_lines(chunk_size=1))
        left = time.monotonic()
        r.close()
        assert fake_provider.client_gone.wait(3), "the provider never saw us leave"
        assert fake_provider.disconnects[0] - left < 1.0, "the upstream stayed open after the client left"
    finally:
        stop()


def test_models_page_shows_each_models_usage(ada):
    mid = add_model(ada, "gpt", "echo")
    add_model(ada, "idle", "echo")
    chat(ada, mid)
    chat(ada, mid)
    rows = ada.get("/models", headers={"HX-Request": "true"}).get_data(as_text=True)
    row = rows[rows.index(f'id="model-{mid}"'):]
    assert "2 requests ·" in row[:row.index("</tr>")] and "unused" in rows


def test_secrets_page_shows_what_each_secret_served(ada):
    relying = add_model(ada, "gpt", "echo")
    own = add_model(ada, "own", "echo", api_key="sk-own-model-key-7777")
    for model in (relying, relying, relying, own):
        chat(ada, model)
    row = ada.get("/secrets/openai", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "3 requests ·" in row  # the own-key request was not the secret's
