"""Reading a provider's answer within the vault's limits (README, Settings): bodies inflated here in
bounded steps, no whole answer or stream event past VAULT_UPSTREAM_MAX_BYTES, no answer arriving
for longer than VAULT_STREAM_MAX_SECONDS, and a provider that sends fast still lets the worker's
other requests run."""
# Under gevent a greenlet runs until it waits, and a socket that always has bytes never makes it
# wait: a fast provider would hold the worker (and every stream on it). So a request that has run
# SLICE seconds without waiting sleeps for PAUSE: a timer, so the event loop polls every socket
# before it resumes. sleep(0) would not do: the loop runs ready greenlets ~50 at a time before it
# polls, and this one would be ready each time. Monkey-patched, time.sleep is gevent's.
# A read that took WAITED waited for the provider, and the others ran meanwhile: it starts a new
# slice. The clock is read around each read and between PIECE-byte pieces of a bigger one: the
# parser and the relay then handle at most a piece's events (~100 small ones) between two
# readings, and a normal stream (an event or two per read) pays nothing per event.
import functools
import itertools
import time
import zlib
from time import perf_counter

from urllib3.exceptions import HTTPError, TimeoutError as Urllib3Timeout

from . import http, sse

CHUNK = 64 * 1024   # read at most this much at a time
PIECE = 4096        # and hand it on (inflated) this much at a time
SLICE = 0.002       # seconds a request may run without letting the others run
PAUSE = 0.0001
WAITED = 0.0005
ENCODINGS = {"gzip", "x-gzip", "deflate"}
MAX_ENCODINGS = 3


class Turns:
    """Since when this request has run without letting the others on its worker run."""
    __slots__ = ("since",)

    def __init__(self):
        self.since = perf_counter()

    def take(self):
        """Between pieces: a turn for the others past SLICE. The read loop below does the same
        inline, where it also knows whether the read waited."""
        now = perf_counter()
        if now - self.since > SLICE:
            self.give()
        return now

    def give(self):
        time.sleep(PAUSE)
        self.since = perf_counter()


def answer(target, response, settings):
    """A whole answer's JSON object: upstream_too_large past max_bytes once inflated,
    upstream_bad_response when it is not a JSON object."""
    limit, data, complete = settings.max_bytes, bytearray(), False
    if not response.headers.get("content-encoding") and (response.length_remaining or 0) > limit:
        http.finish(response, False)  # refused before a byte is read
        raise http.too_large(target, limit)
    try:
        for piece in chunks(target, response, settings, Turns(), stream=False):
            data += piece
            if len(data) > limit:
                raise http.too_large(target, limit)
        complete = True
    finally:
        http.finish(response, complete)
    return http.decode(target, data, response.status)


def events(target, response, settings):
    """(event name, data) of each SSE event, read within the limits: one event (or one line still
    without its end) past max_bytes is upstream_too_large, a stream past max_seconds is upstream_timeout."""
    too_large = functools.partial(http.too_large, target, settings.max_bytes, "a stream event")
    return sse.events(chunks(target, response, settings, Turns(), stream=True), settings.max_bytes, too_large)


def chunks(target, response, settings, turns, stream):
    """The body's bytes as they arrive (inflated here when compressed), at most PIECE at a time,
    for at most max_seconds from now. A failure mid-stream is a stream cut short."""
    inflate, deadline = inflater(target, response), turns.since + settings.max_seconds
    reads = _reads(target, response, settings, turns, deadline, stream)
    if inflate is None:
        return reads
    return _inflated(target, response, settings, inflate, reads, turns, deadline, stream)


def _reads(target, response, settings, turns, deadline, stream):
    """Raw bytes as they arrive (read1 returns what the socket has, chunked or close-delimited)."""
    shorten_at = deadline - settings.timeout
    try:
        while True:
            started = perf_counter()
            if started > shorten_at:  # the last reads may not wait past the deadline
                _shorten(response, deadline - started)
            data = response.read1(CHUNK)
            now = perf_counter()
            if now - started > WAITED:
                turns.since = now
            elif now - turns.since > SLICE:
                turns.give()
            if now > deadline:
                raise http.too_long(target, settings.max_seconds, stream)
            if not data:
                return
            if len(data) <= PIECE:  # a normal stream's read
                yield data
                continue
            for start in range(0, len(data), PIECE):  # the events of a burst, a piece at a time
                yield data[start:start + PIECE]
                if turns.take() > deadline:
                    raise http.too_long(target, settings.max_seconds, stream)
    except Urllib3Timeout as exc:
        if perf_counter() >= deadline - 0.01:
            raise http.too_long(target, settings.max_seconds, stream) from None
        raise http.transport_error(target, exc, settings.timeout) from None
    except HTTPError as exc:
        if not stream:
            raise http.transport_error(target, exc, settings.timeout) from None
        http.log.warning("upstream %s stream failed: %s", target.provider, type(exc).__name__)
        raise http.stream_cut(target) from None


def _shorten(response, seconds):
    connection = response.connection
    if connection is not None and connection.sock is not None:
        connection.sock.settimeout(max(seconds, 0.001))


def _inflated(target, response, settings, inflate, reads, turns, deadline, stream):
    """The pieces of an inflated body: a few bytes may inflate a thousandfold."""
    try:
        for data in itertools.chain(reads, [None]):
            for piece in inflate(data) if data is not None else inflate.end():
                yield piece
                if turns.take() > deadline:
                    raise http.too_long(target, settings.max_seconds, stream)
    except zlib.error:
        raise http.bad_response(target, response.status) from None


def inflater(target, response):
    """None for a body sent as it is; else what inflates it, for gzip and deflate (urllib3's
    decoders are not used: some versions inflate a whole read at once)."""
    coded = [c.strip().lower() for c in response.headers.get("content-encoding", "").split(",")]
    coded = [c for c in coded if c not in ("", "identity")]
    if not coded:
        return None
    if len(coded) > MAX_ENCODINGS or not ENCODINGS.issuperset(coded):
        raise http.bad_response(target, response.status)
    stages = [Inflate() for _ in coded]
    return stages[0] if len(stages) == 1 else Chain(stages[::-1])  # the last applied is undone first


class Inflate:
    """gzip or zlib-wrapped deflate (told apart by their header) or raw deflate, at most PIECE
    bytes out per step however much the input expands; gzip members one after another."""
    AUTO, RAW = zlib.MAX_WBITS | 32, -zlib.MAX_WBITS

    def __init__(self):
        self.inflating, self.fresh, self.members = zlib.decompressobj(self.AUTO), True, 0

    def __call__(self, data):
        while data and self.inflating is not None:
            try:
                out = self.inflating.decompress(data, PIECE)
            except zlib.error:
                if self.fresh:  # a deflate body some servers send without its zlib header
                    self.inflating, self.fresh = zlib.decompressobj(self.RAW), False
                    continue
                if self.members:  # bytes after a finished body are dropped, as urllib3 drops them
                    self.inflating = None
                    return
                raise
            self.fresh = False
            data = self.inflating.unconsumed_tail
            if self.inflating.eof:  # another gzip member may follow
                data, self.members = self.inflating.unused_data, self.members + 1
                self.inflating = zlib.decompressobj(self.AUTO)
            if out:
                yield out

    def end(self):
        """What the inflater still holds once the body has ended: at most its window."""
        rest = self.inflating.flush() if self.inflating is not None else b""
        if rest:
            yield rest


class Chain:
    """Several encodings, undone one after the other, each step still at most PIECE bytes."""

    def __init__(self, stages):
        self.stages = stages

    def __call__(self, data, first=0):
        if first == len(self.stages):
            yield data
            return
        for piece in self.stages[first](data):
            yield from self(piece, first + 1)

    def end(self):
        for index, stage in enumerate(self.stages):
            for piece in stage.end():
                yield from self(piece, index + 1)
