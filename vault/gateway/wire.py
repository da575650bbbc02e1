"""What the endpoints' wires share: compact JSON, server-sent events, the gateway's own headers,
and OpenAI's shapes of a tool call and of usage (which /api/chat's answer uses too)."""
import json

SSE_HEADERS = [("Content-Type", "text/event-stream"), ("X-Accel-Buffering", "no")]  # proxies must not buffer
# (Cache-Control: no-store comes with every answer's security headers)

_compact = json.JSONEncoder(separators=(",", ":")).encode


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
