"""Half-open connections (slowloris) against the production server, one gevent worker: a client
that sends a request's head a byte at a time, or never finishes it, must not keep everyone else
waiting. The attacker speaks from 127.0.0.2, everyone else from 127.0.0.1."""
import socket
import time

import pytest
import requests

from tests.server import Server

HALF_SENT = b"GET /login HTTP/1.1\r\nHost: vault\r\nX-Slow: "  # never ends


def half_open(port, count):
    held = []
    for _ in range(count):
        sock = socket.socket()
        sock.settimeout(5)
        sock.bind(("127.0.0.2", 0))
        try:
            sock.connect(("127.0.0.1", port))
            sock.sendall(HALF_SENT)
        except OSError:  # refused or reset at once: it holds nothing
            sock.close()
            continue
        held.append(sock)
    return held


def ordinary_latencies(server, count=20):
    latencies = []
    for _ in range(count):
        started = time.monotonic()
        answer = requests.get(server.url("/login"), timeout=10)
        assert answer.status_code == 200
        latencies.append(time.monotonic() - started)
    return sorted(latencies)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with Server(tmp_path_factory.mktemp("slowloris"), {"VAULT_MAX_CONNECTIONS_PER_ADDRESS": "100"}) as running:
        yield running


def test_1100_half_sent_requests_do_not_keep_others_waiting(server):
    held = half_open(server.port, 1100)
    try:
        latencies = ordinary_latencies(server)
    finally:
        for sock in held:
            sock.close()
    assert latencies[-1] < 2.0, f"an ordinary request waited {latencies[-1]:.1f} s behind the half-open ones"


def test_one_address_holds_at_most_its_share_of_connections(server):
    held = half_open(server.port, 300)
    try:
        time.sleep(0.5)
        alive = 0
        for sock in held:
            sock.settimeout(0.01)
            try:
                alive += sock.recv(1) != b""  # b"": the server closed it
            except TimeoutError:
                alive += 1  # still open, waiting for the rest of the head
            except OSError:
                pass
    finally:
        for sock in held:
            sock.close()
    assert 0 < alive <= 100


def test_a_request_head_that_never_ends_is_closed_after_the_header_timeout(tmp_path):
    with Server(tmp_path, {"VAULT_HEADER_TIMEOUT": "1"}) as quick:
        sock = socket.create_connection(("127.0.0.1", quick.port), timeout=10)
        sock.sendall(HALF_SENT)
        started = time.monotonic()
        try:
            assert sock.recv(1024) == b""  # closed, without an answer
        finally:
            sock.close()
        assert time.monotonic() - started < 5
