"""The anthropic wire: POST {base}/v1/messages with x-api-key and anthropic-version, whole or
streamed as named events, translated to and from our OpenAI-shaped chat."""
import dataclasses

from . import anthropic_format as fmt
from . import http, reading
from .types import Delta, Done, ToolCall

PATH = "/v1/messages"
STREAM_ERRORS = {  # an `error` event's type → our code, status and sentence
    "rate_limit_error": ("upstream_rate_limited", 429, "{} rate-limited the request mid-stream; try again."),
    "overloaded_error": ("upstream_error", 502, "{} was overloaded mid-stream; try again shortly."),
    "authentication_error": ("upstream_auth", 502, "{} refused the key mid-stream."),
    "permission_error": ("upstream_auth", 502, "{} refused the key mid-stream.")}
OTHER_ERROR = ("upstream_error", 502, "{} reported an error mid-stream.")
BLOCK_BYTES = 256  # what an open content block counts for, besides the tool input it holds


class AnthropicAdapter:
    models_path = "/v1/models"  # relative to the base URL: how a key is checked

    def __init__(self, timeout, policy="any", max_bytes=http.MAX_BYTES, max_seconds=http.STREAM_SECONDS):
        self.timeout, self.policy = timeout, policy  # fixed by adapter_for, in the request
        self.settings = http.Settings(timeout, policy, max_bytes, max_seconds)

    def complete(self, target, request):
        payload = fmt.request(target, request, False)
        response = http.request(target, "POST", PATH, payload, self.timeout, policy=self.policy)
        data = reading.answer(target, response, self.settings)
        try:
            answer = fmt.answer(data, target.upstream_model)
        except (KeyError, IndexError, TypeError, AttributeError, ValueError):
            raise http.bad_response(target, response.status) from None
        json_tool = fmt.json_tool(request.options)
        if json_tool is None:
            return answer
        # The forced tool's input is the JSON answer, as text
        arguments = next((c.arguments for c in answer.tool_calls if c.name == json_tool["name"]), "")
        return dataclasses.replace(answer, content=answer.content + arguments, tool_calls=(),
                                   finish_reason="stop" if answer.finish_reason == "tool_calls" else answer.finish_reason)

    def stream(self, target, request):
        json_tool = fmt.json_tool(request.options)
        events = self._events(target, request)
        return events if json_tool is None else _as_text(events, json_tool["name"])

    def _events(self, target, request):
        response = http.request(target, "POST", PATH, fmt.request(target, request, True),
                                self.timeout, stream=True, policy=self.policy)
        state = StreamState(target, self.settings.max_bytes)
        try:
            for name, data in reading.events(target, response, self.settings):
                yield from state.feed(name, http.decode(target, data))
                if state.complete:
                    break
            if not state.complete:
                raise http.stream_cut(target)
            # Sent before the drain below: a provider slow to end the body delays nothing.
            yield Done(fmt.finish_reason(state.stop_reason), fmt.usage(state.usage))
        finally:
            http.finish(response, state.complete)  # closes the connection unless the stream ended well


def _as_text(events, name):
    """A JSON answer's stream: the forced tool's input comes out as text (whole, once its block
    has closed), and the stop reason is an ordinary stop."""
    try:
        for event in events:
            if type(event) is ToolCall and event.name == name:
                yield Delta(event.arguments)
            elif type(event) is Done and event.finish_reason == "tool_calls":
                yield Done("stop", event.usage)
            else:
                yield event
    finally:
        events.close()


class StreamState:
    """Open content blocks by index, tool calls sent so far, usage and stop reason. What blocks
    hold until they close may not, all told, pass the size of a whole answer."""

    def __init__(self, target, limit=http.MAX_BYTES):
        self.target, self.blocks, self.calls = target, {}, 0
        self.limit, self.held = limit, 0
        self.usage = {}  # Anthropic's counts as they come: message_start's, then message_delta's
        self.stop_reason, self.complete = None, False

    def feed(self, name, event):
        kind = event.get("type", name)
        try:
            handler = getattr(self, f"on_{kind}", None)  # ping and unknown events are skipped
            if handler is not None:
                yield from handler(event) or ()
        except (KeyError, TypeError, AttributeError):
            raise http.bad_response(self.target) from None

    def on_message_start(self, event):
        self.usage.update(fmt.counts(event["message"].get("usage")))

    def on_content_block_start(self, event):
        block = event["content_block"]
        self.blocks[event["index"]] = {"type": block["type"], "id": block.get("id"),
                                       "name": block.get("name"), "json": []}
        self._hold(BLOCK_BYTES)
        if block["type"] == "text" and block.get("text"):
            yield Delta(block["text"])

    def on_content_block_delta(self, event):
        delta = event["delta"]
        if delta["type"] == "text_delta" and delta["text"]:
            yield Delta(delta["text"])
        elif delta["type"] == "input_json_delta":
            self.blocks[event["index"]]["json"].append(delta["partial_json"])
            self._hold(len(delta["partial_json"]))

    def on_content_block_stop(self, event):
        block = self.blocks.pop(event["index"], None)
        if block and block["type"] == "tool_use":  # a tool call goes out whole, once its block closes
            yield ToolCall(self.calls, block["id"], block["name"], "".join(block["json"]) or "{}")
            self.calls += 1

    def _hold(self, size):
        self.held += size
        if self.held > self.limit:
            raise http.too_large(self.target, self.limit, "tool calls")

    def on_message_delta(self, event):
        self.stop_reason = (event.get("delta") or {}).get("stop_reason") or self.stop_reason
        self.usage.update(fmt.counts(event.get("usage")))

    def on_message_stop(self, event):
        self.complete = True

    def on_error(self, event):
        kind = (event.get("error") or {}).get("type")
        code, status, sentence = STREAM_ERRORS.get(kind, OTHER_ERROR)
        http.log.warning("upstream %s sent an error event", self.target.provider)
        raise http.UpstreamError(sentence.format(self.target.label), code, status)

