"""One client for every provider: an adapter per wire format (openai, anthropic), pooled
connections per provider host, real timeouts, and upstream failures mapped to our errors.

Interface used by the rest of the app (implemented in this package):

- check_connection(target, timeout=10) -> {"ok", "status", "code", "message", "latency_ms"}
  Calls the provider's models-list endpoint with target's key. Never raises for an upstream
  failure: `message` is our own sentence ("The key was refused by OpenAI (401); …"), `status`
  the provider's HTTP status (None when it did not answer), `code` "ok" or our error code.
- adapter_for(target, timeout=None) -> adapter with
    complete(target, request) -> types.Answer
    stream(target, request)   -> iterator of types.Delta, types.ToolCall, then one types.Done
  `request` is a types.ChatRequest (messages, options such as temperature, max_tokens, tools).
  Both raise UpstreamError (codes in README, Errors) on failure, also mid-stream. The read timeout is
  `timeout`, else VAULT_UPSTREAM_TIMEOUT of the app in context when adapter_for is called; its
  VAULT_BASE_URL_POLICY too (public: a host resolving to a non-public address is refused, before
  any connection, with UpstreamError base_url_not_public 403), and its limits: an answer or one
  stream event past VAULT_UPSTREAM_MAX_BYTES (inflated) is upstream_too_large 502, a stream past
  VAULT_STREAM_MAX_SECONDS upstream_timeout 504.
  stream() sends nothing until first iterated; closing it closes the upstream connection.
"""
import time

from . import http, reading
from .anthropic import AnthropicAdapter
from .http import UpstreamError
from .openai import OpenAIAdapter

__all__ = ["UpstreamError", "check_connection", "adapter_for"]


def check_connection(target, timeout=10):
    """Is the provider reachable and does it take this key? Lists its models to find out."""
    started = time.perf_counter()
    try:
        settings = http.settings(timeout)
        response = http.request(target, "GET", _adapter(target).models_path, timeout=settings.timeout,
                                policy=settings.policy)
        listed = reading.answer(target, response, settings).get("data")
    except UpstreamError as exc:
        return {"ok": False, "status": exc.upstream_status, "code": exc.code, "message": exc.message,
                "latency_ms": http.elapsed_ms(started)}
    count = f"{len(listed)} models listed" if isinstance(listed, list) else "models listed"
    accepted = "no key needed" if target.key is None else "the key was accepted"
    return {"ok": True, "status": response.status, "code": "ok",
            "message": f"Connected to {target.label}; {accepted} ({count}).",
            "latency_ms": http.elapsed_ms(started)}


def adapter_for(target, timeout=None):
    """The adapter for the target's wire format, its read timeout and base URL policy fixed now."""
    return _adapter(target)(*http.settings(timeout))


def _adapter(target):
    return AnthropicAdapter if target.wire == "anthropic" else OpenAIAdapter
