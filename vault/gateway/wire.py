"""What the endpoints' wires share: compact JSON, server-sent events, the gateway's own headers,
and OpenAI's shapes of a tool call and of usage (which /api/chat's answer uses too)."""
import itertools
import json
import os

from werkzeug.wsgi import ClosingIterator

SSE_HEADERS = [("Content-Type", "text/event-stream"), ("X-Accel-Buffering", "no")]  # proxies must not buffer
# (Cache-Control: no-store comes with every answer's security headers)

_compact = json.JSONEncoder(separators=(",", ":")).encode


def new_id(prefix):
    """An id for something the vault makes up (a request, a message, a response): prefix_ + 24 hex."""
    return f"{prefix}_{os.urandom(12).hex()}"


def dumps(value):
    return _compact(value).encode()


def sse(value):
    return b"data: " + _compact(value).encode() + b"\n\n"


def headers(outcome):
    """X-Key-Source and X-Vault-Overhead-Ms (the gateway's own time: README, Chat)."""
    return [("X-Key-Source", outcome.target.key_source), ("X-Vault-Overhead-Ms", f"{outcome.overhead_ms:.2f}")]


def tool_call(call):
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def usage(used):
    return {"prompt_tokens": used.prompt_tokens, "completion_tokens": used.completion_tokens,
            "total_tokens": used.total_tokens}


def streamed(outcome, translate):
    """(status, headers, body) of a streamed answer. The provider's first event is awaited here, so
    a provider that fails at once is an HTTP error the client's SDK can raise; `translate(events)`
    turns the gateway's events into the wire's bytes; the server closes the body (and with it the
    provider's connection) even if it never iterates it."""
    first = next(outcome.events, None)
    events = itertools.chain([first] if first is not None else [], outcome.events)
    return 200, [*SSE_HEADERS, *headers(outcome)], ClosingIterator(translate(events), outcome.events.close)
