"""Slow clients against the production server (one gevent worker, a pool of two database
connections): a body sent slowly or never, and a stream nobody reads, must not hold the
database, the worker or the provider's connection."""
import socket
import time

import pytest
import requests

from tests.helpers import close_pool, make_user, sign_in, token_for
from tests.server import Server

HEADER_TIMEOUT = 2


@pytest.fixture(scope="module")
def fake():
    from tests.fake_provider import FakeProvider
    provider = FakeProvider().start()
    provider.hostile_seconds = 60  # the provider must not be the one that gives up
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, fake):
    from vault import create_app
    from vault.settings import new_master_key
    tmp = tmp_path_factory.mktemp("slow")
    env = {"DATABASE_URL": f"sqlite:///{tmp}/v.db", "VAULT_MASTER_KEYS": new_master_key(),
           "SECRET_KEY": "slow-secret", "VAULT_DB_POOL_SIZE": "2", "VAULT_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
           "VAULT_SEND_TIMEOUT": "1", "VAULT_PROVIDER_BASE_URLS": f"openai={fake.openai_base}"}
    app = create_app({**env, "INSTANCE_PATH": str(tmp / "setup")})
    make_user(app, "ada@example.com")
    ada = sign_in(app.test_client(), "ada@example.com")
    for name, scenario in (("echo", "echo"), ("endless", "endless-events")):
        created = ada.post("/api/models", json={"name": name, "provider": "openai", "model_id": scenario,
                                                "base_url": fake.openai_base, "api_key": "sk-test-slow-0000"})
        assert created.status_code == 201, created.json
    token = token_for(app, "ada@example.com")
    close_pool()
    running = Server(tmp, env).start()
    running.token = token
    yield running
    running.stop()


def half_sent(server, path, token=None, sent=b"{", length=1000):
    """A POST whose head is complete and whose body stops after `sent`."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=15)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: vault\r\nContent-Type: application/json\r\n{auth}"
                 f"Content-Length: {length}\r\n\r\n".encode() + sent)
    return sock


def closed_within(sock, seconds):
    """Reads what the server sends until it closes; the seconds that took (None: still open)."""
    started = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return None
    finally:
        sock.close()
    return time.monotonic() - started


def test_slow_bodies_hold_no_database_connection(server):
    held = [half_sent(server, path, server.token)
            for path in ("/v1/chat/completions", "/api/models", "/v1/embeddings", "/api/chat")]
    try:
        headers = {"Authorization": f"Bearer {server.token}"}
        started = time.monotonic()
        for path in ("/v1/models", "/api/models", "/v1/models", "/api/models"):
            assert requests.get(server.url(path), headers=headers, timeout=10).status_code == 200, path
        assert time.monotonic() - started < 1.5  # not after the slow bodies gave up
    finally:
        for sock in held:
            sock.close()


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/api/secrets", "/v1/models", "/login"])
def test_a_body_never_sent_closes_the_connection(server, path):
    sock = half_sent(server, path, sent=b"")
    took = closed_within(sock, 10)
    assert took is not None and took < HEADER_TIMEOUT + 1.5, took


def test_an_unread_body_is_not_waited_for(server):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=15)
    sock.sendall(b"GET /login HTTP/1.1\r\nHost: vault\r\nContent-Length: 1000\r\n\r\n{")
    took = closed_within(sock, 10)
    assert took is not None and took < 1.0, took


def test_a_client_that_reads_nothing_of_a_stream_is_let_go(server, fake):
    fake.hostile_sent.pop("endless-events", None)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    body = b'{"model": "endless", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: vault\r\nContent-Type: application/json\r\n"
                 + f"Authorization: Bearer {server.token}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    try:  # never read: the vault's writes block, then time out after VAULT_SEND_TIMEOUT (1 s)
        deadline = time.monotonic() + 15
        while "endless-events" not in fake.hostile_sent and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "endless-events" in fake.hostile_sent, "the provider's stream outlived a client that reads nothing"
    finally:
        sock.close()
    assert "failed with TimeoutError" not in server.log.read_text()  # let go quietly


def raw_answer(server, request):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(request)
    answer = b""
    try:
        while chunk := sock.recv(65536):
            answer += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    finally:
        sock.close()
    return answer


def test_a_broken_chunked_body_is_a_400_not_a_500(server):
    answer = raw_answer(server, b"POST /v1/chat/completions HTTP/1.1\r\nHost: vault\r\nConnection: close\r\n"
                        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                        + f"Authorization: Bearer {server.token}\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 400") and b'"invalid_request_error"' in answer, answer[:300]
    assert "unhandled" not in server.log.read_text()


def test_a_head_past_64_kib_is_dropped_without_an_answer(server):
    padding = b"".join(b"X-Pad-%d: %s\r\n" % (n, b"p" * 8000) for n in range(10))
    assert raw_answer(server, b"GET /v1/models HTTP/1.1\r\nHost: vault\r\n" + padding + b"\r\n") == b""
    small = b"".join(b"X-Pad-%d: %s\r\n" % (n, b"p" * 4000) for n in range(10))
    answer = raw_answer(server, b"GET /v1/models HTTP/1.1\r\nHost: vault\r\nConnection: close\r\n" + small + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 401")


def test_a_header_timeout_of_0_means_no_limit_not_no_time(tmp_path):
    with Server(tmp_path, {"VAULT_HEADER_TIMEOUT": "0"}) as unlimited:
        assert [requests.get(unlimited.url("/login"), timeout=10).status_code for _ in range(10)] == [200] * 10
