"""Streaming and pooling through real sockets: events relayed as they arrive (chunked and
close-delimited upstreams), a closed stream closes the upstream connection, connections reused,
and the client under gevent."""
import os
import subprocess
import sys
import textwrap
import time

import pytest
import urllib3

from vault import llm

from .helpers import chat_request

CHAT = {"messages": [{"role": "user", "content": "hi"}]}
WIRES = ["openai", "anthropic"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("provider", WIRES)
@pytest.mark.parametrize("model", ["drip", "close-delimited"])
def test_deltas_arrive_while_the_provider_is_still_sending(fake_provider, provider, model):
    target = fake_provider.target(provider, model)
    arrivals = []
    for event in llm.adapter_for(target).stream(target, chat_request(CHAT)):
        arrivals.append((time.monotonic(), event.type))
    deltas = [at for at, kind in arrivals if kind == "delta"]
    assert len(deltas) == 5 and arrivals[-1][1] == "done"
    # Five pieces 100 ms apart: unbuffered, the first is here ~400 ms before the last.
    assert deltas[-1] - deltas[0] >= 0.15


def test_close_delimited_answers_have_neither_length_nor_chunking(fake_provider):
    answer = urllib3.request("POST", fake_provider.openai_base + "/chat/completions", retries=False,
                             json={"model": "close-delimited", "stream": True, **CHAT},
                             headers={"authorization": "Bearer k"})
    assert answer.status == 200 and "content-length" not in answer.headers
    assert "transfer-encoding" not in answer.headers and answer.data.endswith(b"data: [DONE]\n\n")


@pytest.mark.parametrize("provider", WIRES)
def test_closing_the_stream_closes_the_upstream_connection(fake_provider, provider):
    target = fake_provider.target(provider, "long")
    stream = llm.adapter_for(target).stream(target, chat_request(CHAT))
    assert next(stream).type == "delta" and next(stream).type == "delta"
    closed_at = time.monotonic()
    stream.close()  # what Flask does when the client goes away
    assert fake_provider.client_gone.wait(1.0), "the fake provider still has a client"
    assert fake_provider.disconnects[0] - closed_at < 1.0
    streamed_port = fake_provider.calls[0]["client_port"]
    assert llm.adapter_for(target).complete(target, chat_request(CHAT)).content == "Echo: hi"
    assert fake_provider.calls[1]["client_port"] != streamed_port  # that socket was not pooled


@pytest.mark.parametrize("provider", WIRES)
def test_done_does_not_wait_for_a_provider_slow_to_end_the_body(fake_provider, provider):
    fake_provider.slow_seconds = 5.0
    target = fake_provider.target(provider, "linger")
    started, arrivals = time.monotonic(), {}
    for event in llm.adapter_for(target).stream(target, chat_request(CHAT)):
        arrivals[event.type] = time.monotonic() - started
    ended = time.monotonic() - started
    assert arrivals["done"] < 2.0  # "done" is relayed at once
    assert ended < 4.5  # the drain gives up after 2 s, not after the read timeout
    assert fake_provider.client_gone.wait(2.0)  # and that connection was closed, not pooled


@pytest.mark.parametrize("provider", WIRES)
def test_consecutive_requests_reuse_one_connection(fake_provider, provider):
    target = fake_provider.target(provider)
    adapter = llm.adapter_for(target)
    for _ in range(5):
        adapter.complete(target, chat_request(CHAT))
        assert list(adapter.stream(target, chat_request(CHAT)))[-1].type == "done"
    llm.check_connection(target)
    assert len({call["client_port"] for call in fake_provider.calls}) == 1
    assert fake_provider.connections <= 1  # at most the first request opened one


GEVENT_SCRIPT = textwrap.dedent("""
    from gevent import monkey; monkey.patch_all()
    import time, gevent
    from tests.fake_provider import FakeProvider
    from vault import llm
    from vault.llm.types import ChatRequest
    fake = FakeProvider().start()
    target = fake.target("openai", "drip")
    def one(_):
        return [e.type for e in llm.adapter_for(target).stream(target, ChatRequest("", []))][-1]
    started = time.monotonic()
    results = [job.value for job in gevent.joinall([gevent.spawn(one, i) for i in range(20)])]
    print(results.count("done"), round(time.monotonic() - started, 2))
""")


def test_streams_run_side_by_side_under_gevent():
    done = subprocess.run([sys.executable, "-c", GEVENT_SCRIPT], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": ROOT})
    assert done.returncode == 0, done.stderr[-2000:]
    count, seconds = done.stdout.split()
    assert count == "20" and float(seconds) < 4.0  # twenty 0.4 s streams one after another: 8 s
