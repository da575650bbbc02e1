"""What both chat endpoints share: resolve before anything streams, call the adapter, time the
gateway's own share, relay events as they arrive, and book usage after the answer is out."""
import json
import time

from flask import Response, g, jsonify
from flask_login import current_user

from .. import llm, resolver
from ..llm import UpstreamError
from . import usage

SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}  # proxies must not buffer


def resolve(ref):
    """The model by name or id; raises NotFound / MissingApiKey before any upstream call."""
    return resolver.resolve_by_name_or_id(current_user, ref)


def complete(target, body):
    """(result, overhead_ms). Usage, or the error, is booked once the answer is out."""
    user_id = current_user.id
    started = time.perf_counter()
    try:
        result = llm.adapter_for(target).complete(target, body)
    except UpstreamError:
        g.after_answer = lambda: usage.record(user_id, target, error=True)
        raise
    upstream = time.perf_counter() - started
    g.after_answer = lambda: usage.record(user_id, target, result.get("usage"))
    return result, overhead_ms(upstream)


def book_after_answer(response):
    """after_request of both chat blueprints: the ledger write waits until the client has its bytes."""
    after = g.pop("after_answer", None)
    if after is not None:
        response.call_on_close(after)
    return response


def events(target, body):
    """Our event iterator, the upstream connection opened only when first iterated."""
    return llm.adapter_for(target).stream(target, body)


def sse_response(chunks, target, on_close):
    response = Response(chunks, mimetype="text/event-stream", headers=headers(target, SSE_HEADERS))
    response.call_on_close(on_close)
    return response


def headers(target, extra=None, overhead=None):
    out = {"X-Key-Source": target.key_source,
           "X-Vault-Overhead-Ms": f"{overhead if overhead is not None else overhead_ms(0):.2f}"}
    out.update(extra or {})
    return out


def overhead_ms(upstream_seconds):
    """The gateway's own time so far: since the request arrived, less the provider's share."""
    return (time.perf_counter() - g.request_started - upstream_seconds) * 1000


def json_answer(payload, target, overhead, status=200):
    response = jsonify(payload)
    response.status_code = status
    response.headers.update(headers(target, overhead=overhead))
    return response


def sse(event):
    return b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"


class Tally:
    """Collects usage and errors while a stream runs, for the ledger afterwards (no DB in the stream)."""

    def __init__(self, user_id, target):
        self.user_id, self.target = user_id, target
        self.usage, self.error = None, False

    def book(self):
        usage.record(self.user_id, self.target, self.usage, self.error)
