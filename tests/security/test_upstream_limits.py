"""The upstream limits one piece at a time (README, Settings and Security model): the SSE parser is
linear and bounded with its event boundaries unchanged, bodies are inflated in bounded steps, and
the adapters end a hostile provider's answer with upstream_too_large or upstream_timeout, whatever
the wire, without a key or the provider's words in the error."""
import gzip
import io
import os
import random
import subprocess
import sys
import textwrap
import time
import zlib

import flask
import pytest

from tests.fake_provider import BODY_MARKER, gzip_bomb
from tests.helpers import chat_request
from vault import llm
from vault.llm import http, reading, sse
from vault.llm.anthropic import AnthropicAdapter
from vault.llm.openai import OpenAIAdapter
from vault.llm.types import Delta
from vault.resolver import Target

KEY = "sk-test-SENTINEL-limits-0000"
CHAT = chat_request({"messages": [{"role": "user", "content": "hi"}]})
WIRES = ["openai", "anthropic"]
MIB = 1024 * 1024
NOWHERE = Target("openai", "http://127.0.0.1:9/v1", "bearer", None, "none", "m")  # for errors' words only
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def adapter(target, max_bytes=MIB, max_seconds=3.0, timeout=10.0):
    wire = AnthropicAdapter if target.wire == "anthropic" else OpenAIAdapter
    return wire(timeout, "any", max_bytes, max_seconds)


def failure(target, stream, **limits):
    """The UpstreamError one chat ends in, and the events before it."""
    events, running = [], adapter(target, **limits)
    with pytest.raises(llm.UpstreamError) as caught:
        if stream:
            for event in running.stream(target, CHAT):
                events.append(event)
        else:
            running.complete(target, CHAT)
    shown = caught.value.message + str(caught.value.to_dict())
    assert KEY not in shown and BODY_MARKER not in shown
    return caught.value, events


def reference(stream):
    """The events of a whole stream, by the letter of the SSE spec, for comparison."""
    found, name, data = [], "", None
    for line in stream.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")[:-1]:
        if not line:
            if data is not None:
                found.append((name or "message", data))
            name, data = "", None
        elif not line.startswith(b":"):
            field, _, value = line.partition(b":")
            value = value[1:] if value.startswith(b" ") else value
            if field == b"data":
                data = value if data is None else data + b"\n" + value
            elif field == b"event":
                name = value.decode()
    return found


SAMPLE = (b'event: a\r\ndata: {"x": 1}\r\n\r\n: keep-alive\n\ndata: one\ndata: two\n\ndata:\n\n'
          b"event: b\rdata: cr\r\rdata:no-space\r\ndata:  two spaces\n\n\n\nevent: empty\n\ndata: [DONE]\n\n"
          b"data: unfinished")


def test_parser_events_match_the_spec_however_the_bytes_are_split():
    expected = reference(SAMPLE[:SAMPLE.rindex(b"\n") + 1])
    assert [name for name, _ in expected] == ["a", "message", "message", "b", "message", "message"]
    shuffle = random.Random(7)
    for _ in range(300):
        cuts = sorted(shuffle.sample(range(1, len(SAMPLE)), shuffle.randint(0, 30)))
        parts = [SAMPLE[i:j] for i, j in zip([0, *cuts], [*cuts, len(SAMPLE)])]
        assert list(sse.events(iter(parts))) == expected, parts


def test_parser_is_linear_on_a_10_mb_line():
    line = b"x" * (10 * MIB)
    parts = [b"data: "] + [line[i:i + 4096] for i in range(0, len(line), 4096)] + [b"\n\n"]
    started = time.process_time()
    (name, data), = sse.events(iter(parts))
    assert (name, len(data)) == ("message", 10 * MIB)
    assert time.process_time() - started < 2.0  # quadratic, 2,560 pieces copied again each time: minutes


@pytest.mark.parametrize("parts", [
    [b"data: "] + [b"x" * 4096] * 1000,                             # a line that never ends
    [b"data: " + b"x" * 1000 + b"\n"] * 1100,                       # an event whose lines never end it
    [(b"data: " + b"x" * 100 + b"\n") * 40] * 1000 + [b"\n"],      # many short lines, one event
])
def test_parser_refuses_an_event_past_the_limit_without_reading_on(parts):
    read = []

    def chunks():
        for part in parts:
            read.append(len(part))
            yield part

    with pytest.raises(sse.TooLarge):
        list(sse.events(chunks(), limit=MIB))
    assert MIB <= sum(read) <= 1.1 * MIB + 8192  # counted: the data kept, and the line still open


def test_parser_keeps_nothing_of_comments_and_names():
    flood = [b": keep-alive\n\nevent: x\n\n" * 1000] * 200  # 4.6 MB, no data at all
    assert list(sse.events(iter(flood), limit=1024)) == []


class Body:
    """What reading.py uses of a urllib3 response: raw bytes out of read1, headers, status."""

    def __init__(self, raw, encoding=None, length=None):
        self.raw, self.status, self.connection = io.BytesIO(raw), 200, None
        self.headers = {"content-encoding": encoding} if encoding else {}
        self.length_remaining, self.closed = length, False

    def read1(self, amount, decode_content=None):
        return self.raw.read1(min(amount, 1000))

    def close(self):
        self.closed = True

    def release_conn(self):
        pass


def inflated(body, encoding, limit=MIB):
    settings = http.Settings(10.0, "any", limit, 5.0)
    return b"".join(reading.chunks(NOWHERE, Body(body, encoding), settings, reading.Turns(), stream=False))


def test_gzip_and_deflate_bodies_are_inflated_as_before():
    text = b'{"answer": "' + b"hello " * 10000 + b'"}'
    raw_deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    cases = {"gzip": gzip.compress(text), "x-gzip": gzip.compress(text), "deflate": zlib.compress(text),
             "gzip, gzip": gzip.compress(gzip.compress(text)), "identity": text}
    for encoding, body in cases.items():
        assert inflated(body, encoding) == text, encoding
    assert inflated(raw_deflate.compress(text) + raw_deflate.flush(), "deflate") == text
    assert inflated(gzip.compress(text[:100]) + gzip.compress(text[100:]), "gzip") == text  # two members


def test_a_bomb_is_inflated_one_bounded_piece_at_a_time():
    bomb = gzip_bomb(b"", 64 * MIB, b"")
    settings = http.Settings(10.0, "any", MIB, 5.0)
    pieces = reading.chunks(NOWHERE, Body(bomb, "gzip"), settings, reading.Turns(), stream=False)
    sizes = [len(next(pieces)) for _ in range(100)]
    assert max(sizes) <= reading.PIECE and len(bomb) < 100 * 1024


def test_an_answer_too_long_for_its_content_length_is_refused_before_reading(fake_provider):
    target = fake_provider.target(key=KEY)
    body = Body(b"{}" * 10, length=2 * MIB)
    with pytest.raises(llm.UpstreamError) as caught:
        reading.answer(target, body, http.Settings(10.0, "any", MIB, 5.0))
    assert caught.value.code == "upstream_too_large" and body.closed and body.raw.tell() == 0


@pytest.mark.parametrize("provider", WIRES)
@pytest.mark.parametrize("scenario, stream, what", [
    ("endless-line", True, "a stream event"), ("huge-body", True, "a stream event"),
    ("huge-body", False, "an answer"), ("gzip-bomb", True, "a stream event"),
    ("gzip-bomb", False, "an answer"), ("endless-tools", True, "tool calls")])
def test_too_much_from_a_provider_is_upstream_too_large(fake_provider, caplog, provider, scenario, stream,
                                                        what):
    label = "OpenAI" if provider == "openai" else "Anthropic"
    exc, events = failure(fake_provider.target(provider, scenario, KEY), stream)
    assert (exc.code, exc.status) == ("upstream_too_large", 502) and events == []
    assert exc.message == f"{label} sent {what} larger than the vault's limit of 1048576 bytes."
    assert KEY not in caplog.text and BODY_MARKER not in caplog.text


@pytest.mark.parametrize("provider", WIRES)
@pytest.mark.parametrize("scenario, stream", [("endless-events", True), ("drip-feed", True),
                                              ("drip-feed", False)])
def test_a_provider_that_never_finishes_is_upstream_timeout(fake_provider, provider, scenario, stream):
    started = time.monotonic()
    exc, events = failure(fake_provider.target(provider, scenario, KEY), stream, max_seconds=1.0)
    assert (exc.code, exc.status) == ("upstream_timeout", 504)
    assert exc.message.endswith("ran past the vault's limit of 1 seconds.")
    assert exc.message.startswith("The stream from" if stream else "The answer from")
    assert 1.0 <= time.monotonic() - started < 3.0
    assert all(event.type == "delta" for event in events)
    if scenario == "endless-events":
        assert len(events) > 1000  # relayed as they came, until the limit


@pytest.mark.parametrize("provider", WIRES)
def test_a_read_waiting_at_the_time_limit_is_cut_short(fake_provider, provider):
    fake_provider.slow_seconds = 5.0
    started = time.monotonic()
    exc, events = failure(fake_provider.target(provider, "stall", KEY), True, max_seconds=0.5)
    assert exc.code == "upstream_timeout" and "ran past" in exc.message
    assert events == [Delta("before ")]
    assert time.monotonic() - started < 2.0  # not the 10 s read timeout, nor the 5 s stall


def test_json_nested_past_the_recursion_limit_is_a_bad_response():
    with pytest.raises(llm.UpstreamError) as caught:
        http.decode(NOWHERE, b"[" * 100000 + b"]" * 100000)
    assert caught.value.code == "upstream_bad_response"


def test_an_error_answer_is_never_inflated(fake_provider):
    exc, _ = failure(fake_provider.target(model="gzip-bomb-error", key=KEY), False)
    assert (exc.code, exc.upstream_status) == ("upstream_error", 500)


@pytest.mark.parametrize("scenario", ["gzip-bomb", "huge-body"])
def test_check_connection_reads_the_models_list_within_the_limit(fake_provider, scenario):
    fake_provider.models_scenario = scenario
    app = flask.Flask(__name__)
    app.config["VAULT_UPSTREAM_MAX_BYTES"] = MIB
    with app.app_context():
        result = llm.check_connection(fake_provider.target(key=KEY))
    assert result["ok"] is False and result["code"] == "upstream_too_large" and result["status"] is None


def test_the_limits_come_from_the_app_config():
    app = flask.Flask(__name__)
    app.config.update(VAULT_UPSTREAM_MAX_BYTES=1234, VAULT_STREAM_MAX_SECONDS=5.5, VAULT_UPSTREAM_TIMEOUT=7)
    with app.app_context():
        assert http.settings() == (7.0, "any", 1234, 5.5)
    assert http.settings() == (60.0, "any", 16 * MIB, 900.0)


def test_normal_answers_pass_through_the_limits(fake_provider):
    for provider in WIRES:
        target = fake_provider.target(provider, "tools", KEY)
        assert adapter(target).complete(target, CHAT).tool_calls
        events = list(adapter(target).stream(target, CHAT))
        assert [e.type for e in events if e.type != "delta"] == ["tool_call", "tool_call", "done"]


GEVENT_SCRIPT = textwrap.dedent("""
    from gevent import monkey; monkey.patch_all()
    import sys, time, gevent
    from vault.llm import UpstreamError
    from vault.llm.openai import OpenAIAdapter
    from vault.llm.types import ChatRequest
    from vault.resolver import Target
    late = []
    def ticker():
        # the CPU this process spent while the ticker waited: what the others held the hub for.
        # Wall time would count the machine's other work too (the OS preempting this process).
        while True:
            started = time.process_time()
            gevent.sleep(0.01)
            late.append(time.process_time() - started)
    def attack(model):
        target = Target("openai", sys.argv[1], "bearer", None, "none", model)
        try:
            for _ in OpenAIAdapter(10.0, "any", 64 * 1024 * 1024, 3.0).stream(target, ChatRequest("", [])):
                pass
        except UpstreamError as exc:
            return exc.code
    gevent.spawn(ticker)
    attacks = [gevent.spawn(attack, m) for m in ("endless-events", "endless-line", "huge-body")]
    gevent.joinall(attacks)
    late.sort()
    print(*[a.value for a in attacks], round(late[-1], 3), len(late), round(late[len(late) * 99 // 100], 3))
""")


def test_under_gevent_a_fast_provider_never_holds_the_worker(fake_provider):
    """Three attacks on one gevent hub (a 64 MiB limit: the parser has work to do) while a
    greenlet asks for the CPU every 10 ms: no attack holds the hub for 100 ms of CPU before it
    gets its turn."""
    fake_provider.allow_no_key = True
    done = subprocess.run([sys.executable, "-c", GEVENT_SCRIPT, fake_provider.openai_base], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": ROOT})
    assert done.returncode == 0, done.stderr[-2000:]
    events, line, huge, worst, ticks, _ = done.stdout.split()
    assert (events, line, huge) == ("upstream_timeout", "upstream_too_large", "upstream_too_large")
    assert float(worst) < 0.1 and int(ticks) > 100, done.stdout
