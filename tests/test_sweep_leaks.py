"""Leak sweep: sentinel keys and an API token are stored, used, rotated, checked and broken in
every way we know; none of them may appear in any response body or header, log record,
exception message, CLI output, or the database as a thief would read it."""
import json
import logging

import pytest

from tests.sweep import ANTHROPIC_KEY, HX, MODEL_KEY, SECRET, TEAM_KEY, build_world, database_text
from vault import StartupError, create_app, crypto
from vault.db import LLMModel, database
from vault.settings import new_master_key

ROTATED = "sk-test-SENTINEL-ROTATED-3333"
TYPED = "sk-test-SENTINEL-TYPED-4444"
TEAM_ROTATED = "sk-test-SENTINEL-TEAM-ROTATED-6666"
CHAT = {"messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture
def world(app_config, fake_provider):
    return build_world(app_config, fake_provider)


class Recorder:
    """Every answer the sweep got, to be searched at the end."""

    def __init__(self):
        self.seen = []

    def __call__(self, response):
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        self.seen.append(f"{response.status_code}\n{headers}\n{response.get_data(as_text=True)}")
        return response


def walk(w, fake_provider, keep):
    a, t = w.ada, w.bearer(w.ada_token)
    m, r = w.model, w.relying
    for path in ("/", "/secrets", "/secrets/openai", "/secrets/openai/rotate", "/secrets/openai/history",
                 "/secrets/groq/new", "/models", f"/models/{m}", f"/models/{m}/edit", "/models/form?mode=manual",
                 "/tokens", "/chat", "/account", "/api/providers", "/api/secrets", "/api/secrets/openai",
                 "/api/secrets/openai/history", "/api/models", f"/api/models/{m}", "/api/tokens", "/api/usage",
                 "/api/openapi.json"):
        keep(a.get(path))
        keep(a.get(path, headers=HX))
    keep(t.get("/v1/models"))
    for path in ("/api/secrets/openai/check", "/api/secrets/anthropic/check", f"/api/models/{m}/test",
                 f"/api/models/{r}/test", f"/models/{m}/test", "/secrets/openai/check"):
        keep(a.post(path, headers=HX if not path.startswith("/api") else {}))
    keep(a.post("/api/models/test", json={"provider": "openai", "model_id": "echo", "api_key": TYPED}))
    fake_provider.valid_keys = {"sk-something-else-entirely"}  # every key refused from here on
    for path in ("/api/secrets/openai/check", f"/api/models/{m}/test", f"/api/models/{r}/test"):
        keep(a.post(path))
    fake_provider.valid_keys = None
    for scenario in ("echo", "tools", "fail-401", "fail-403", "fail-429", "fail-500", "garbage", "slow", "cut",
                     "stream-error"):
        a.patch(f"/api/models/{m}", json={"model_id": scenario})
        a.patch(f"/api/models/{r}", json={"model_id": scenario})
        # "slow" is about the timeout's words, not its length: 8 requests at 1 s would be the sweep's whole time
        w.app.config["VAULT_UPSTREAM_TIMEOUT"] = 0.2 if scenario == "slow" else 1.0
        for model in (m, r):
            for stream in (False, True):
                keep(a.post("/api/chat", buffered=True, json={"model_id": model, "stream": stream, **CHAT}))
            keep(t.post("/v1/chat/completions", buffered=True, json={"model": model, **CHAT}))
            keep(t.post("/v1/chat/completions", buffered=True, json={"model": model, "stream": True, **CHAT}))
            keep(t.post("/v1/embeddings", json={"model": model, "input": "hi"}))
            for stream in (False, True):
                keep(t.post("/v1/messages", buffered=True, json={"model": model, "max_tokens": 9,
                                                                 "stream": stream, **CHAT}))
                keep(t.post("/v1/responses", buffered=True, json={"model": model, "stream": stream,
                                                                  "input": CHAT["messages"]}))
    # bad input that carries a key: the error must not echo it
    keep(a.post("/api/secrets", json={"provider": "groq", "api_key": SECRET + " with space"}))
    keep(a.post("/api/secrets", json={"provider": "openai", "api_key": SECRET}))  # 409 exists
    keep(a.put("/api/secrets/openai", json={"api_key": ROTATED, "expected_version": 99}))  # stale
    keep(a.post("/api/models", json={"name": "", "provider": "openai", "model_id": "x", "api_key": MODEL_KEY}))
    keep(a.post("/models", headers=HX, data={"mode": "template", "provider": "openai", "model_id": "x",
                                             "name": "", "api_key": MODEL_KEY}))
    keep(a.post("/secrets/groq", headers=HX, data={"api_key": SECRET + "\x00"}))
    keep(a.post("/secrets/openai/rotate", headers=HX, data={"api_key": ROTATED + " x", "expected_version": "1"}))
    keep(a.post("/api/chat", json={"model_id": m, "messages": SECRET}))
    walk_team(w, keep)
    # rotation, then every read again
    keep(a.put("/api/secrets/openai", json={"api_key": ROTATED}))
    for path in ("/secrets", "/api/secrets", "/api/secrets/openai/history", "/models"):
        keep(a.get(path, headers=HX))


def walk_team(w, keep):
    """The team's key used and refused through every wire by ada's token, read by ada, checked,
    rotated, given back in bad input; bob, not a member, asks too."""
    a, t, base = w.ada, w.bearer(w.ada_token), f"/api/teams/{w.team}"
    page = f"/teams/{w.team}"
    for path in ("/api/teams", base, f"{base}/secrets", f"{base}/secrets/openai", f"{base}/history",
                 f"/api/models/{w.team_model}", "/models", "/teams", page, f"{page}/history",
                 f"{page}/secrets/openai", f"{page}/secrets/openai/rotate", f"{page}/secrets/openai/hosts",
                 f"{page}/secrets/openai/history"):
        keep(a.get(path))
        keep(a.get(path, headers=HX))
        keep(w.bob.get(path))
    keep(a.post(f"{base}/secrets/openai/check"))
    keep(a.post(f"{page}/secrets/openai/check", headers=HX))
    keep(a.post(f"{page}/secrets/openai/rotate", headers=HX, data={"api_key": TEAM_KEY + " x"}))  # 422
    keep(a.post(f"{page}/models", headers=HX, data={"name": "", "provider": "openai", "model_id": "x",
                                                    "api_key": TEAM_KEY}))  # 422
    keep(t.post("/v1/chat/completions", buffered=True, json={"model": "ada-team-gpt", **CHAT}))
    keep(t.post("/v1/messages", buffered=True, json={"model": "ada-team-gpt", "max_tokens": 9, **CHAT}))
    keep(a.post("/api/chat", buffered=True, json={"model_id": w.team_model, "stream": True, **CHAT}))
    keep(a.post(f"{base}/secrets", json={"provider": "openai", "api_key": TEAM_KEY}))  # 409 exists
    keep(a.put(f"{base}/secrets/openai", json={"api_key": TEAM_KEY + " x"}))
    keep(a.put(f"{base}/secrets/openai", json={"api_key": TEAM_ROTATED}))
    keep(t.post("/v1/chat/completions", buffered=True, json={"model": "ada-team-gpt", **CHAT}))


def tamper_and_read(w, keep):
    """A model key swapped for another row's ciphertext: the answer says so, naming no key."""
    with w.app.app_context(), database.connection_context():
        other = LLMModel.get_by_id(w.relying)
        blob = crypto.encrypt(MODEL_KEY, other.id)  # a valid value, bound to the wrong row
        LLMModel.update(api_key_encrypted=blob).where(LLMModel.id == w.model).execute()
    answer = keep(w.ada.post("/api/chat", json={"model_id": w.model, **CHAT}))
    assert answer.status_code == 500 and answer.json["error"]["code"] == "stored_key_unreadable"
    keep(w.ada.post(f"/api/models/{w.model}/test"))
    keep(w.ada.get("/models"))


def cli_outputs(w, tmp_path):
    runner = w.app.test_cli_runner()
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps([{"name": "x", "provider": "openai", "model_id": "y", "api_key": SECRET}]))
    outputs = [runner.invoke(args=["import-models", str(catalog)]).output,
               runner.invoke(args=["rotate-master-key"]).output,
               runner.invoke(args=["init-db"]).output]
    return outputs


def test_no_sentinel_anywhere(world, fake_provider, app_config, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    keep = Recorder()
    walk(world, fake_provider, keep)
    assert SECRET in fake_provider.keys_seen() or ROTATED in fake_provider.keys_seen()  # really used
    assert MODEL_KEY in fake_provider.keys_seen() and TYPED in fake_provider.keys_seen()
    tamper_and_read(world, keep)
    outputs = cli_outputs(world, tmp_path)
    with pytest.raises(StartupError) as refused:
        create_app({**app_config, "VAULT_MASTER_KEYS": new_master_key()})
    stored = database_text(world.app)

    assert TEAM_KEY in fake_provider.keys_seen() and TEAM_ROTATED in fake_provider.keys_seen()
    sentinels = (SECRET, MODEL_KEY, ANTHROPIC_KEY, ROTATED, TYPED, TEAM_KEY, TEAM_ROTATED, world.ada_token, world.bob_token,
                 "SENTINEL", "UPSTREAM-BODY-MARKER")
    places = {"responses": "\n".join(keep.seen), "logs": caplog.text, "cli": "\n".join(outputs),
              "startup refusal": str(refused.value), "database": stored}
    for place, text in places.items():
        for sentinel in sentinels:
            if sentinel == "UPSTREAM-BODY-MARKER" and place == "database":
                continue
            assert sentinel not in text, f"{sentinel!r} leaked into {place}"
    assert len(keep.seen) > 150  # the sweep really walked
