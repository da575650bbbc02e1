"""One client for every provider: an adapter per wire format (openai, anthropic), pooled
connections per provider host, real timeouts, and upstream failures mapped to our errors.

Interface used by the rest of the app (implemented in this package):

- check_connection(target, timeout=10) -> {"ok", "status", "code", "message", "latency_ms"}
  Calls the provider's models-list endpoint with target's key and, for a model (upstream_model),
  checks the model is in that list, or asks it for one token where the list names none. Never
  raises for an upstream failure: `message` is our own sentence ("The key was refused by OpenAI
  (401); …"), `status` the provider's HTTP status (None when it did not answer), `code` "ok",
  "model_not_listed" or our error code.
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
from .types import ChatRequest

__all__ = ["UpstreamError", "check_connection", "adapter_for"]


def check_connection(target, timeout=10):
    """Is the provider reachable, does it take this key and, for a model, does it know the model?
    Lists the provider's models to find out; a model its list does not name fails, and where the
    list names no models at all the model is asked for one token instead. The message says which."""
    started = time.perf_counter()
    try:
        settings = http.settings(timeout)
        response = http.request(target, "GET", _adapter(target).models_path, timeout=settings.timeout,
                                policy=settings.policy)
        listed = reading.answer(target, response, settings).get("data")
        model_check = _model_check(target, listed, settings)
    except UpstreamError as exc:
        return {"ok": False, "status": exc.upstream_status, "code": exc.code, "message": exc.message,
                "latency_ms": http.elapsed_ms(started)}
    accepted = "no key needed" if target.key is None else "the key was accepted"
    ok = model_check is None or model_check[0]
    said = f"Connected to {target.label}; {accepted}"
    return {"ok": ok, "status": response.status, "code": "ok" if ok else "model_not_listed",
            "message": f"{said} ({_count(listed)})." if model_check is None else f"{said}; {model_check[1]}",
            "latency_ms": http.elapsed_ms(started)}


def _model_check(target, listed, settings):
    """None without a model; else (ok, what was found), from the list or a one-token request."""
    model = target.upstream_model
    if not model:
        return None
    ids = {m.get("id") for m in listed if isinstance(m, dict)} if isinstance(listed, list) else set()
    if ids:
        if model in ids:
            return True, f"the model {model!r} is in its list ({_count(listed)})."
        return False, (f"but the model {model!r} is not in its list ({_count(listed)}): check the model ID.")
    request = ChatRequest(model, [{"role": "user", "content": "Say OK."}], {"max_tokens": 1})
    _adapter(target)(*settings).complete(target, request)  # UpstreamError: the provider's refusal
    return True, f"its list names no models, and {model!r} answered a one-token request."


def _count(listed):
    return f"{len(listed)} models listed" if isinstance(listed, list) else "models listed"


def adapter_for(target, timeout=None):
    """The adapter for the target's wire format, its read timeout and base URL policy fixed now."""
    return _adapter(target)(*http.settings(timeout))


def _adapter(target):
    return AnthropicAdapter if target.wire == "anthropic" else OpenAIAdapter
