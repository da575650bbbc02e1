"""The openai wire (OpenAI and every OpenAI-compatible provider, Azure included): POST
{base}/chat/completions, whole or streamed as `data:` chunks up to [DONE]."""
import json

from .. import providers
from . import http, reading
from .types import Answer, Delta, Done, Embeddings, ToolCall, Usage

PATH = "/chat/completions"
EMBEDDINGS_PATH = "/embeddings"
CALL_BYTES = 256  # what a tool call held for the end of a stream counts for, besides its text
PASSED = ("temperature", "max_tokens", "max_completion_tokens", "top_p", "stop", "seed", "tools",
          "tool_choice", "parallel_tool_calls", "response_format", "presence_penalty",
          "frequency_penalty", "user")


class OpenAIAdapter:
    models_path = "/models"  # relative to the base URL: how a key is checked

    def __init__(self, timeout, policy="any", max_bytes=http.MAX_BYTES, max_seconds=http.STREAM_SECONDS):
        self.timeout, self.policy = timeout, policy  # fixed by adapter_for, in the request
        self.settings = http.Settings(timeout, policy, max_bytes, max_seconds)

    def payload(self, target, request, stream):
        options = request.options
        out = {"model": target.upstream_model or request.model, "messages": request.messages}
        out.update((name, options[name]) for name in PASSED if options.get(name) is not None)
        out.update(request.extra)  # the endpoint kept model, messages and stream out of it
        limit = providers.PROVIDERS[target.provider].output_limit
        if limit != "max_tokens" and "max_tokens" in out:  # whatever name the client's wire used
            out.setdefault(limit, out.pop("max_tokens"))
        if stream:
            out["stream"] = True
            out["stream_options"] = {"include_usage": True}  # else no usage in a stream
        return out

    def complete(self, target, request):
        response = http.request(target, "POST", PATH, self.payload(target, request, False), self.timeout,
                                policy=self.policy)
        data = reading.answer(target, response, self.settings)
        try:
            choice = data["choices"][0]
            message = choice["message"]
            calls = tuple(_tool_call(n, call) for n, call in enumerate(message.get("tool_calls") or ()))
            return Answer(message.get("content") or "", calls,
                          choice.get("finish_reason") or ("tool_calls" if calls else "stop"),
                          usage(data.get("usage")), data.get("model") or target.upstream_model)
        except (KeyError, IndexError, TypeError, AttributeError):
            raise http.bad_response(target) from None

    def embed(self, target, request):
        payload = {"model": target.upstream_model or request.model, "input": request.input, **request.options}
        response = http.request(target, "POST", EMBEDDINGS_PATH, payload, self.timeout, policy=self.policy)
        data = reading.answer(target, response, self.settings)
        try:
            items = sorted(data["data"], key=lambda item: item["index"])
            vectors = tuple(_vector(item["embedding"]) for item in items)
            return Embeddings(vectors, usage(data.get("usage")), data.get("model") or target.upstream_model)
        except (KeyError, TypeError, AttributeError, ValueError):
            raise http.bad_response(target) from None

    def stream(self, target, request):
        response = http.request(target, "POST", PATH, self.payload(target, request, True),
                                self.timeout, stream=True, policy=self.policy)
        state, complete = StreamState(target, self.settings.max_bytes), False
        try:
            for _, data in reading.events(target, response, self.settings):
                if data.strip() == b"[DONE]":
                    complete = True
                    break
                yield from state.feed(http.decode(target, data))
            if not complete:
                raise http.stream_cut(target)
            yield from state.end()  # before the drain below, so a provider slow to end the body delays nothing
        finally:
            http.finish(response, complete)  # closes the connection unless the stream ended well


class StreamState:
    """What a stream has said so far: tool-call fragments by index, finish reason, usage. The
    fragments are held until the end, so together they may not pass the size of a whole answer."""

    def __init__(self, target, limit=http.MAX_BYTES):
        self.target, self.calls, self.finish_reason, self.usage = target, {}, None, None
        self.limit, self.held = limit, 0

    def feed(self, chunk):
        try:
            if chunk.get("error") is not None:
                raise http.UpstreamError(f"{self.target.label} reported an error mid-stream.")
            if chunk.get("usage"):
                self.usage = chunk["usage"]
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                for part in delta.get("tool_calls") or ():
                    self._add_call(part)
                self.finish_reason = choice.get("finish_reason") or self.finish_reason
                if delta.get("content"):
                    yield Delta(delta["content"])
        except (AttributeError, TypeError, KeyError):
            raise http.bad_response(self.target) from None

    def _add_call(self, part):
        index = part.get("index", 0)
        if not isinstance(index, int):  # sorted at the end, with the others
            raise TypeError("index")
        call = self.calls.get(index)
        if call is None:
            call = self.calls[index] = {"id": None, "name": [], "arguments": []}
            self.held += CALL_BYTES
        function = part.get("function") or {}
        call["id"] = part.get("id") or call["id"]
        for field in ("name", "arguments"):  # joined at the end: += would copy them all each time
            text = function.get(field) or ""
            if not isinstance(text, str):
                raise TypeError(field)
            call[field].append(text)
            self.held += len(text)
        if self.held > self.limit:
            raise http.too_large(self.target, self.limit, "tool calls")

    def end(self):
        # Tool calls go out whole, once the provider has finished sending them.
        for index, key in enumerate(sorted(self.calls)):
            call = self.calls[key]
            yield ToolCall(index, call["id"] or f"call_{index}", "".join(call["name"]),
                           "".join(call["arguments"]) or "{}")
        yield Done(self.finish_reason or ("tool_calls" if self.calls else "stop"), usage(self.usage))


def usage(raw):
    """The provider's own counts (0 when absent)."""
    raw = raw if isinstance(raw, dict) else {}
    return Usage(http.count(raw.get("prompt_tokens")), http.count(raw.get("completion_tokens")))


def _tool_call(index, call):
    function = call["function"]
    arguments = function.get("arguments")
    if not isinstance(arguments, str):  # a few compatible servers send an object
        arguments = json.dumps(arguments if arguments is not None else {})
    if not isinstance(function["name"], str):
        raise TypeError("name")
    return ToolCall(index, call.get("id") or f"call_{index}", function["name"], arguments)


def _vector(value):
    """A provider's embedding as it goes on: numbers, or the base64 text asked for."""
    if isinstance(value, str) or (isinstance(value, list) and all(
            isinstance(n, (int, float)) and not isinstance(n, bool) for n in value)):
        return value
    raise ValueError("embedding")
