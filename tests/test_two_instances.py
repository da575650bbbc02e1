"""Two instances of the production server (README, Running several instances) on one PostgreSQL
and one Redis: what is written or revoked through one is in force on the other at once, and login
limits count across both."""
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from .helpers import PASSWORD, close_pool, make_user, wipe_postgres

ROOT = Path(__file__).resolve().parents[1]
SERVER = [sys.executable, "-m", "gunicorn", "-c", "vault/gunicorn.conf.py", "app:app"]
REDIS_URL = "redis://127.0.0.1:6379/6"
CHAT = {"model_id": "pair-model", "messages": [{"role": "user", "content": "hello from the pair"}]}


def postgres_url():
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith(("postgresql://", "postgres://")):
        pytest.skip("runs in the PostgreSQL pass (set TEST_DATABASE_URL)")
    return url


def redis_flushed():
    """Our Redis database, emptied; without Redis this test fails in CI and skips elsewhere."""
    import redis
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
        client.flushdb()
        return client
    except redis.RedisError as exc:
        reason = f"Redis is not reachable at {REDIS_URL} ({type(exc).__name__}); .ci/run starts it"
        if os.environ.get("VAULT_REQUIRE_BROWSER") or os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Instance:
    """One `gunicorn -c vault/gunicorn.conf.py app:app` with its own port and instance dir."""

    def __init__(self, name, env, tmp):
        self.name, self.port = name, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"{name}.log"
        env = {**os.environ, **env, "VAULT_BIND": f"127.0.0.1:{self.port}", "VAULT_WORKERS": "1",
               "VAULT_INSTANCE_PATH": str(tmp / name)}
        env.pop("GUNICORN_CMD_ARGS", None)
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(SERVER, cwd=ROOT, env=env, stdout=log, stderr=log,
                                            start_new_session=True)

    def url(self, path):
        return self.base + path

    def wait_ready(self, seconds=30):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if requests.get(self.url("/login"), timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        pytest.fail(f"instance {self.name} did not answer: {self.log.read_text()[-2000:]}")

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # gunicorn's quick shutdown, master and worker

    def wait_stopped(self):
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


@pytest.fixture(scope="module")
def pair(tmp_path_factory, fake_provider_server):
    """Instances a and b sharing PostgreSQL, Redis, SECRET_KEY and VAULT_MASTER_KEYS, with users
    ada and bob and ada's model "pair-model" on the fake provider (no key yet)."""
    url = postgres_url()
    redis_flushed()
    wipe_postgres(url)
    tmp = tmp_path_factory.mktemp("pair")
    from vault import create_app
    from vault.db import LLMModel, User, database
    from vault.settings import new_master_key
    env = {"DATABASE_URL": url, "VAULT_MASTER_KEYS": new_master_key(), "SECRET_KEY": "pair-secret",
           "RATELIMIT_STORAGE_URI": REDIS_URL,
           "VAULT_PROVIDER_BASE_URLS": f"openai={fake_provider_server.openai_base}"}
    app = create_app({**env, "INSTANCE_PATH": str(tmp / "setup")})
    for email in ("ada@example.com", "bob@example.com"):
        make_user(app, email)
    with app.app_context(), database.connection_context():
        LLMModel.create(user=User.get(User.email == "ada@example.com"), name="pair-model",
                        provider="openai", model_id="echo", base_url=fake_provider_server.openai_base,
                        auth_type="bearer")
    close_pool()
    instances = []
    try:
        instances = [Instance("a", env, tmp), Instance("b", env, tmp)]
        for instance in instances:
            instance.wait_ready()
        yield instances
    finally:
        for instance in instances:
            instance.stop()
        for instance in instances:
            instance.wait_stopped()


def csrf_from(html):
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def sign_in(instance, email):
    """A browser-like session signed in through the real form; unsafe requests carry X-CSRFToken."""
    browser = requests.Session()
    token = csrf_from(browser.get(instance.url("/login"), timeout=10).text)
    answer = browser.post(instance.url("/login"), data={"email": email, "password": PASSWORD, "csrf_token": token},
                          allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text[:500]
    browser.headers["X-CSRFToken"] = csrf_from(browser.get(instance.url("/tokens"), timeout=10).text)
    return browser


def new_token(browser, instance, name):
    answer = browser.post(instance.url("/api/tokens"), json={"name": name, "scopes": ["chat", "manage"],
                                                             "password": PASSWORD}, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()["id"], {"Authorization": f"Bearer {answer.json()['token']}"}


def bad_login(instance):
    browser = requests.Session()
    token = csrf_from(browser.get(instance.url("/login"), timeout=10).text)
    return browser.post(instance.url("/login"), allow_redirects=False, timeout=10, data={
        "email": "ada@example.com", "password": "not the password", "csrf_token": token}).status_code


def test_secret_created_on_one_is_used_by_a_chat_on_the_other_and_rotation_reaches_back(pair, fake_provider):
    a, b = pair
    _, bearer = new_token(sign_in(a, "ada@example.com"), a, "pair")

    created = requests.post(a.url("/api/secrets"), json={"provider": "openai", "api_key": "sk-pair-first-0001"},
                            headers=bearer, timeout=10)
    assert created.status_code == 201, created.text
    chat = requests.post(b.url("/api/chat"), json=CHAT, headers=bearer, timeout=10)  # at once: no wait
    assert chat.status_code == 200, chat.text
    assert chat.json()["key_source"] == "provider_secret"
    assert fake_provider.keys_seen()[-1] == "sk-pair-first-0001"

    rotated = requests.put(b.url("/api/secrets/openai"), json={"api_key": "sk-pair-second-0002"},
                           headers=bearer, timeout=10)
    assert rotated.status_code == 200, rotated.text
    with requests.post(a.url("/api/chat"), json={**CHAT, "stream": True}, headers=bearer, timeout=10,
                       stream=True) as streamed:
        assert streamed.status_code == 200
        events = [line for line in streamed.iter_lines() if line.startswith(b"data: ")]
    assert b'"type":"done"' in events[-1], events[-1]
    assert fake_provider.keys_seen()[-1] == "sk-pair-second-0002"
    shown = requests.get(a.url("/api/secrets/openai"), headers=bearer, timeout=10).json()["secret"]
    assert shown["key_preview"].endswith("0002")


def test_token_revoked_on_one_is_refused_by_both(pair):
    a, b = pair
    browser = sign_in(a, "bob@example.com")
    token_id, bearer = new_token(browser, a, "to revoke")
    for instance in pair:
        assert requests.get(instance.url("/api/secrets"), headers=bearer, timeout=10).status_code == 200

    assert browser.delete(b.url(f"/api/tokens/{token_id}"), timeout=10).status_code == 204
    for instance in pair:
        refused = requests.get(instance.url("/api/secrets"), headers=bearer, timeout=10)
        assert refused.status_code == 401, (instance.name, refused.text)
        assert refused.json()["error"]["code"] == "unauthorized"


def test_a_member_removed_on_one_is_refused_by_both_at_once(pair, fake_provider):
    """Ada's team on a, its key and model; bob chats through b and /v1 with his own token, is
    removed through a, and both refuse his very next request."""
    a, b = pair
    ada, bob = sign_in(a, "ada@example.com"), sign_in(b, "bob@example.com")
    team = ada.post(a.url("/api/teams"), json={"name": "pair-team"}, timeout=10).json()["team"]["id"]
    for path, body in ((f"/api/teams/{team}/members", {"email": "bob@example.com"}),
                       (f"/api/teams/{team}/secrets", {"provider": "openai", "api_key": "sk-pair-team-0003"}),
                       ("/api/models", {"name": "pair-team-gpt", "provider": "openai", "model_id": "echo",
                                        "team_id": team})):
        assert ada.post(a.url(path), json=body, timeout=10).status_code == 201
    bob_id = next(m["user_id"] for m in ada.get(a.url(f"/api/teams/{team}"), timeout=10).json()["team"]["members"]
                  if m["email"] == "bob@example.com")
    _, bearer = new_token(bob, b, "team chat")
    v1 = {"model": "pair-team-gpt", "messages": CHAT["messages"]}
    for instance in pair:
        used = requests.post(instance.url("/v1/chat/completions"), json=v1, headers=bearer, timeout=10)
        assert used.status_code == 200 and used.headers["X-Key-Source"] == "team_secret", used.text
    assert fake_provider.keys_seen()[-2:] == ["sk-pair-team-0003"] * 2

    seen = len(fake_provider.keys_seen())
    assert ada.delete(a.url(f"/api/teams/{team}/members/{bob_id}"), timeout=10).status_code == 204
    for instance in pair:
        refused = requests.post(instance.url("/v1/chat/completions"), json=v1, headers=bearer, timeout=10)
        assert refused.status_code == 404, (instance.name, refused.text)
        assert bob.get(instance.url(f"/api/teams/{team}"), timeout=10).status_code == 404
    assert len(fake_provider.keys_seen()) == seen  # refused before any call went out


def test_session_logged_out_on_one_is_refused_by_both(pair):
    a, b = pair
    browser = sign_in(a, "bob@example.com")
    cookie = {"session": browser.cookies["session"]}  # replayed after logout, as a thief would
    for instance in pair:
        assert requests.get(instance.url("/api/secrets"), cookies=cookie, timeout=10).status_code == 200

    logout = browser.post(b.url("/logout"), allow_redirects=False, timeout=10)
    assert logout.status_code == 302, logout.text
    for instance in pair:
        refused = requests.get(instance.url("/api/secrets"), cookies=cookie, timeout=10)
        assert refused.status_code == 401, (instance.name, refused.text)


@pytest.mark.parametrize("sixth", ["a", "b"])
def test_login_rate_limit_counts_across_both(pair, sixth):
    redis_flushed()  # each case starts with no failures counted
    a, b = pair
    for instance in (a, b, a, b, a):
        assert bad_login(instance) == 401
    sixth = a if sixth == "a" else b
    assert bad_login(sixth) == 429
    other = b if sixth is a else a
    assert bad_login(other) == 429
