"""What both chat endpoints share: resolve before anything streams, call the adapter, time the
gateway's own share, relay events as they arrive, and count usage."""
import functools
import json
import time

from flask import Response, g
from flask_login import current_user

from .. import llm, resolver
from ..db import close_connection
from ..errors import NotFound
from ..llm import UpstreamError
from ..tokens import service as tokens
from . import usage

SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}  # proxies must not buffer


def owner():
    """Who is asking: the token's user straight from `g` (this is every /v1 request's path,
    and Flask-Login's proxy costs more than the lookup), else the session's."""
    token = g.get("api_token")
    return token.user if token is not None else current_user


def resolve(ref):
    """The model by name or id; raises NotFound / MissingApiKey / ModelNotAllowed before any
    upstream call."""
    if not plausible(ref):
        raise NotFound("No such model.")
    fetched = g.pop("model_row", None)  # (ref, row): the lane read it with the token
    token = g.get("api_token")
    # by the resolved model's name, however the request named it, and before any key is opened
    allow = functools.partial(tokens.check_model, token) if token is not None else None
    if fetched is not None and fetched[0] == ref:
        target = resolver.target_from(owner().id, fetched[1], allow)
    else:
        target = resolver.resolve_by_name_or_id(owner(), ref, allow)
    # The rest of a chat needs no database (usage is counted in memory): the pooled connection
    # goes back now, not after the provider's answer, or the pool would cap concurrent chats.
    close_connection()
    return target


def plausible(ref):
    return isinstance(ref, str) and len(ref) <= 200 and ref.isprintable()


def complete(target, body):
    """(result, overhead_ms), with the request counted in the usage ledger either way."""
    started = time.perf_counter()
    try:
        result = llm.adapter_for(target).complete(target, body)
    except UpstreamError:
        usage.record(owner().id, target, error=True)
        raise
    upstream = time.perf_counter() - started
    usage.record(owner().id, target, result.get("usage"))
    return result, overhead_ms(upstream)


def events(target, body):
    """Our event iterator, the upstream connection opened only when first iterated."""
    return llm.adapter_for(target).stream(target, body)


def sse_response(chunks, target, overhead=None):
    return Response(chunks, mimetype="text/event-stream", headers=headers(target, SSE_HEADERS, overhead))


def headers(target, extra=None, overhead=None):
    out = {"X-Key-Source": target.key_source,
           "X-Vault-Overhead-Ms": f"{overhead if overhead is not None else overhead_ms(0):.2f}"}
    out.update(extra or {})
    return out


def overhead_ms(upstream_seconds):
    """The gateway's own time so far: since the request arrived, less the provider's share."""
    return (time.perf_counter() - g.request_started - upstream_seconds) * 1000


def json_answer(payload, target, overhead):
    """(body, status, headers): Flask makes a Response of it, the lane sends it as it is."""
    return (_compact(payload).encode(), 200,
            [("Content-Type", "application/json"), *headers(target, overhead=overhead).items()])


def sse(event):
    return b"data: " + _compact(event).encode() + b"\n\n"


_compact = json.JSONEncoder(separators=(",", ":")).encode


class Tally:
    """Collects a stream's usage and error, counted once when the stream ends (however it ends)."""

    def __init__(self, user_id, target):
        self.user_id, self.target = user_id, target
        self.usage, self.error = None, False

    def book(self):
        usage.record(self.user_id, self.target, self.usage, self.error)
