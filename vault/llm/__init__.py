"""One client for every provider: an adapter per wire format (openai, anthropic), pooled
connections per provider host, real timeouts, and upstream failures mapped to our errors.

Interface used by the rest of the app (implemented in this package):

- check_connection(target, timeout=10) -> {"ok", "status", "message", "latency_ms"}
  Calls the provider's models-list endpoint with target's key. Never raises for an upstream
  failure: `message` is our own sentence ("The key was refused by OpenAI (401).").
- adapter_for(target) -> adapter with
    complete(target, body) -> {"content", "tool_calls", "finish_reason", "usage", "model"}
    stream(target, body)   -> iterator of {"type": "delta"|"tool_call"|"done", ...}
  `body` is the chat request of DESIGN §4 (messages, temperature, max_tokens, tools).
  Both raise UpstreamError (code per DESIGN §4) on failure, also mid-stream.
"""
from ..errors import VaultError


class UpstreamError(VaultError):
    code, status = "upstream_error", 502


def check_connection(target, timeout=10):
    raise NotImplementedError


def adapter_for(target):
    raise NotImplementedError
