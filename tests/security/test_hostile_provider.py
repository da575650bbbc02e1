"""A provider that attacks the vault (README, Security model): a base URL a user controls is a server
the vault talks to. Against the production server (gunicorn, one gevent worker) with small limits,
each attack runs while another user's normal chats go on: the chats keep their pace, the attack's
request ends in its own error, the worker's memory stays bounded and the worker is never replaced."""
import json
import statistics
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.fake_provider import FakeProvider
from tests.helpers import close_pool, make_user, sign_in, token_for
from tests.server import Server

LIMIT, SECONDS = 1024 * 1024, 3
MIB = 1024 * 1024
CHATS = 20
MESSAGES = [{"role": "user", "content": "hello"}]
ATTACKS = {  # model name -> (wire, scenario of the fake provider)
    "endless-line": ("openai", "endless-line"), "endless-events": ("anthropic", "endless-events"),
    "endless-tools": ("openai", "endless-tools"), "endless-tools-anthropic": ("anthropic", "endless-tools"),
    "gzip-bomb": ("anthropic", "gzip-bomb"), "gzip-bomb-openai": ("openai", "gzip-bomb"),
    "huge-body": ("openai", "huge-body"), "drip-feed": ("openai", "drip-feed"),
    "gzip-bomb-error": ("openai", "gzip-bomb-error"), "normal": ("openai", "echo")}


@pytest.fixture(scope="module")
def fake():
    provider = FakeProvider().start()
    provider.hostile_seconds = 15.0  # each attack stops by itself, well after the vault has given up
    provider.bomb(True), provider.bomb(False)  # made now (~1 s each), not while an attack is timed
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, fake):
    """The server, a user's token and one model per attack (each with its own key), and the
    normal chats' pace before any attack."""
    from vault import create_app
    from vault.settings import new_master_key
    tmp = tmp_path_factory.mktemp("hostile")
    env = {"DATABASE_URL": f"sqlite:///{tmp}/v.db", "VAULT_MASTER_KEYS": new_master_key(),
           "SECRET_KEY": "hostile-secret", "VAULT_UPSTREAM_MAX_BYTES": str(LIMIT),
           "VAULT_STREAM_MAX_SECONDS": str(SECONDS), "VAULT_UPSTREAM_TIMEOUT": "10",
           "VAULT_PROVIDER_BASE_URLS": f"openai={fake.openai_base},anthropic={fake.anthropic_base}"}
    app = create_app({**env, "INSTANCE_PATH": str(tmp / "setup")})
    make_user(app, "ada@example.com")
    ada = sign_in(app.test_client(), "ada@example.com")
    for name, (wire, scenario) in ATTACKS.items():
        base = fake.anthropic_base if wire == "anthropic" else fake.openai_base
        created = ada.post("/api/models", json={"name": name, "provider": wire, "model_id": scenario,
                                                "base_url": base, "api_key": f"sk-test-{name}"})
        assert created.status_code == 201, created.json
    token = token_for(app, "ada@example.com")
    close_pool()
    running = Server(tmp, env).start()
    running.headers = {"Authorization": f"Bearer {token}"}
    try:
        chat(running)  # the first request warms the worker up
        running.baseline = statistics.median(normal_chats(running))
        yield running
    finally:
        running.stop()
    assert "WORKER TIMEOUT" not in running.log.read_text()


def chat(server, model="normal", path="/api/chat", stream=False, timeout=10):
    field = "model" if path.startswith("/v1/") else "model_id"
    return requests.post(server.base + path, json={field: model, "messages": MESSAGES, "stream": stream},
                         headers=server.headers, timeout=timeout, stream=stream)


def normal_chats(server, count=CHATS):
    """Seconds each of `count` normal chats took, one after another."""
    took = []
    for _ in range(count):
        started = time.perf_counter()
        answer = chat(server)
        took.append(time.perf_counter() - started)
        assert answer.status_code == 200 and answer.json()["content"] == "Echo: hello", answer.text
    return took


def outcome(server, model, path, stream):
    """(HTTP status, error code) of one attacking request: a whole answer's error, or the last
    event of a stream (read as fast as the vault sends it, keeping only its end)."""
    with chat(server, model, path, stream, timeout=30) as answer:
        if answer.status_code != 200 or not stream:
            return answer.status_code, answer.json().get("error", {}).get("code")
        end = b""
        for chunk in answer.iter_content(65536):
            end = (end + chunk)[-8192:]
    last = json.loads(end.strip().split(b"\n\n")[-1].removeprefix(b"data: "))
    return 200, last["error"]["code"]


def rss(pid, field):
    """VmRSS or VmHWM (the peak) of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(field)


def attack(server, model, path="/api/chat", stream=True):
    """Attacks, again and again, while CHATS normal chats go on one after another. (normal chat
    seconds, outcomes of the attacking requests, MiB the worker's peak memory grew by)."""
    worker = server.worker()
    Path(f"/proc/{worker}/clear_refs").write_text("5")  # the peak (VmHWM) starts again from now
    before, outcomes, done = rss(worker, "VmRSS"), [], threading.Event()

    def attacker():
        while not done.is_set():
            outcomes.append(outcome(server, model, path, stream))

    thread = threading.Thread(target=attacker, daemon=True)
    thread.start()
    time.sleep(0.3)  # under way
    took = normal_chats(server)
    done.set()
    thread.join(40)
    assert not thread.is_alive() and outcomes
    assert server.worker() == worker, "the worker was replaced"
    return took, outcomes, rss(worker, "VmHWM") - before


def assert_kept_pace(server, took):
    """The normal chats under attack: the median at most a generous multiple of the baseline."""
    under_attack = statistics.median(took)
    assert under_attack < max(10 * server.baseline, 0.5), (under_attack, server.baseline, took)


def test_an_endless_line_is_too_large_and_the_others_keep_their_pace(server):
    took, outcomes, grew = attack(server, "endless-line")
    assert set(outcomes) == {(200, "upstream_too_large")}
    assert_kept_pace(server, took)
    assert grew < 100, grew


def test_endless_tiny_events_end_at_the_time_limit_and_the_others_keep_their_pace(server):
    started = time.monotonic()
    took, outcomes, _ = attack(server, "endless-events")
    assert set(outcomes) == {(200, "upstream_timeout")}
    assert SECONDS <= time.monotonic() - started < SECONDS * len(outcomes) + 10
    assert_kept_pace(server, took)


@pytest.mark.parametrize("model", ["endless-tools", "endless-tools-anthropic"])
def test_endless_tool_call_fragments_are_too_large(server, model):
    took, outcomes, grew = attack(server, model, "/v1/chat/completions")
    # No event came before the error, so /v1 answers it as an HTTP error (the SDK raises it).
    assert set(outcomes) == {(502, "upstream_too_large")}
    assert_kept_pace(server, took)
    assert grew < 100, grew


@pytest.mark.parametrize("model, stream", [("gzip-bomb", False), ("gzip-bomb-openai", True)])
def test_a_gzip_bomb_is_too_large_once_inflated_and_memory_stays_bounded(server, model, stream):
    took, outcomes, grew = attack(server, model, stream=stream)
    assert set(outcomes) == {(502 if not stream else 200, "upstream_too_large")}
    assert grew < 100, grew
    assert_kept_pace(server, took)


def test_a_huge_body_is_too_large_and_memory_stays_bounded(server, fake):
    took, outcomes, grew = attack(server, "huge-body", "/v1/chat/completions", stream=False)
    assert set(outcomes) == {(502, "upstream_too_large")}
    assert grew < 100, grew
    assert fake.hostile_sent["huge-body"] < 64 * MIB  # the vault hung up, it did not read on
    assert_kept_pace(server, took)


def test_a_gzip_bombed_error_answer_is_never_inflated(server):
    took, outcomes, grew = attack(server, "gzip-bomb-error", stream=False)
    assert set(outcomes) == {(502, "upstream_error")}
    assert grew < 16, grew  # 32 MiB once inflated: never was
    assert_kept_pace(server, took)


def test_a_drip_fed_stream_ends_at_the_time_limit(server):
    started = time.monotonic()
    took, outcomes, _ = attack(server, "drip-feed")
    assert set(outcomes) == {(200, "upstream_timeout")}
    assert time.monotonic() - started >= SECONDS
    assert_kept_pace(server, took)
