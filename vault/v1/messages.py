"""Anthropic's Messages wire (POST /v1/messages), so the official anthropic SDK can use the vault:
the request becomes the gateway's ChatRequest (any provider's model; Anthropic's are translated
back by their adapter), and the answer or events become Anthropic's message, named stream events
and errors ({"type": "error", "error": {"type", "message"}})."""
import json

from ..errors import BadRequest, VaultError
from ..gateway import core, wire
from ..gateway.request import checked, number
from ..llm.types import ChatRequest
from ..validate import not_an_object, refuse_unknown

FIELDS = {"model", "messages", "max_tokens", "system", "stream", "temperature", "top_p",
          "stop_sequences", "tools", "tool_choice", "metadata"}
REFUSED = {  # named, never dropped: what this gateway does not carry yet
    "thinking": "extended thinking", "top_k": "top_k sampling", "container": "containers",
    "mcp_servers": "MCP servers", "service_tier": "service tiers"}
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                "content_filter": "refusal"}
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error"}
JSON = ("Content-Type", "application/json")



def create(call):
    raw = call.json()
    if not isinstance(raw, dict):
        raise not_an_object(raw)
    refused = next((f for f in sorted(raw) if f in REFUSED), None)
    if refused:
        raise BadRequest(f"'{refused}' ({REFUSED[refused]}) is not supported through the vault yet.",
                         "unsupported_feature")
    refuse_unknown(raw, FIELDS)
    request = _chat_request(raw)
    outcome = core.run(call.principal, request, call.started)
    if not request.stream:
        return 200, [JSON, *wire.headers(outcome)], wire.dumps(_message(outcome.answer, request.model))
    return wire.streamed(outcome, lambda events: _events(events, request.model))


def error(code, message, status):
    """Anthropic's error shape, with our code kept beside its type."""
    kind = ERROR_TYPES.get(status, "overloaded_error" if status == 529 else "api_error")
    body = {"type": "error", "error": {"type": kind, "message": message, "code": code}}
    return status, [JSON], json.dumps(body).encode()


# --- request ----------------------------------------------------------------------------------

def _chat_request(raw):
    name, max_tokens, stream = raw.get("model"), raw.get("max_tokens"), raw.get("stream", False)
    if not isinstance(name, str) or not name:
        raise BadRequest("'model' must be the name (or id) of one of your models.")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or not 1 <= max_tokens <= 1_000_000:
        raise BadRequest("'max_tokens' is required: a whole number from 1 to 1000000.")
    if not isinstance(stream, bool):
        raise BadRequest("'stream' must be true or false.")
    if raw.get("temperature") is not None and not number(0, 1)(raw["temperature"]):
        raise BadRequest("'temperature' must be a number from 0 to 1.")
    body = {"messages": _system(raw.get("system")) + _messages(raw.get("messages")), "max_tokens": max_tokens}
    body.update((name, raw[name]) for name in ("temperature", "top_p") if raw.get(name) is not None)
    body.update(_stop(raw.get("stop_sequences")), **_tools(raw.get("tools"), raw.get("tool_choice")))
    user = (raw.get("metadata") or {}).get("user_id") if isinstance(raw.get("metadata"), dict) else None
    if raw.get("metadata") is not None and (not isinstance(raw["metadata"], dict) or set(raw["metadata"]) - {"user_id"}):
        raise BadRequest("'metadata' may hold only 'user_id'.")
    if user is not None:
        body["user"] = user
    messages, options = checked(body, set())
    return ChatRequest(name, messages, options, stream)


def _system(system):
    if system is None:
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}] if system else []
    if isinstance(system, list) and all(_is_text(b) for b in system):
        return [{"role": "system", "content": "\n\n".join(b["text"] for b in system)}]
    raise BadRequest("'system' must be a string or a list of {\"type\": \"text\", \"text\"} blocks.")


def _messages(messages):
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list of {\"role\", \"content\"} objects.")
    out = []
    for n, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise BadRequest(f"messages[{n}]: 'role' must be user or assistant.")
        content = message.get("content")
        if isinstance(content, str):
            out.append({"role": message["role"], "content": content})
        elif isinstance(content, list) and content and all(isinstance(b, dict) for b in content):
            out += _turn(n, message["role"], content)
        else:
            raise BadRequest(f"messages[{n}]: 'content' must be a string or a non-empty list of blocks.")
    return out


def _turn(n, role, blocks):
    """One Anthropic turn as OpenAI messages: tool results become tool messages (first, as they
    answer the previous turn), text and images one message, tool uses its tool_calls."""
    results, parts, calls = [], [], []
    for block in blocks:
        kind = block.get("type")
        if kind == "text" and _is_text(block):
            parts.append({"type": "text", "text": block["text"]})
        elif kind == "image" and role == "user":
            parts.append(_image(n, block.get("source")))
        elif kind == "tool_use" and role == "assistant" and isinstance(block.get("id"), str):
            calls.append({"id": block["id"], "type": "function", "function": {
                "name": block.get("name"), "arguments": json.dumps(block.get("input") or {})}})
        elif kind == "tool_result" and role == "user" and isinstance(block.get("tool_use_id"), str):
            results.append({"role": "tool", "tool_call_id": block["tool_use_id"],
                            "content": _result_text(n, block.get("content"))})
        else:
            raise BadRequest(f"messages[{n}]: a {str(kind)[:40]!r} block is not supported in a {role} turn here.")
    out = results
    if parts or calls:
        message = {"role": role, "content": parts or None}
        if calls:
            message["tool_calls"] = calls
        out.append(message)
    return out


def _is_text(block):
    return isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str)


def _image(n, source):
    if isinstance(source, dict) and source.get("type") == "base64" and isinstance(source.get("data"), str):
        media = source.get("media_type")
        if media in ("image/jpeg", "image/png", "image/gif", "image/webp"):
            return {"type": "image_url", "image_url": {"url": f"data:{media};base64,{source['data']}"}}
    if isinstance(source, dict) and source.get("type") == "url" and isinstance(source.get("url"), str):
        return {"type": "image_url", "image_url": {"url": source["url"]}}
    raise BadRequest(f"messages[{n}]: an image needs a base64 source (jpeg, png, gif or webp) or a url source.")


def _result_text(n, content):
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list) and all(_is_text(b) for b in content):
        return "".join(b["text"] for b in content)
    raise BadRequest(f"messages[{n}]: a tool_result's content must be text here.")


def _stop(stop):
    if stop is None:
        return {}
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop) or len(stop) > 4:
        raise BadRequest("'stop_sequences' must be a list of up to 4 non-empty strings here.")
    return {"stop": stop} if stop else {}


def _tools(tools, choice):
    out = {}
    if tools is not None:
        if not isinstance(tools, list) or not all(isinstance(t, dict) and isinstance(t.get("name"), str)
                                                  and t.get("type") in (None, "custom") for t in tools):
            raise BadRequest("'tools' must be a list of {\"name\", \"description\", \"input_schema\"} "
                             "(client tools; Anthropic's server tools are not supported here).")
        out["tools"] = [{"type": "function", "function": {
            "name": t["name"], "description": t.get("description") or "",
            "parameters": t.get("input_schema") or {"type": "object", "properties": {}}}} for t in tools]
    if choice is not None:
        kind = choice.get("type") if isinstance(choice, dict) else None
        if kind not in ("auto", "any", "tool", "none") or (kind == "tool" and not isinstance(choice.get("name"), str)):
            raise BadRequest("'tool_choice' must be {\"type\": \"auto\" | \"any\" | \"none\"} or "
                             "{\"type\": \"tool\", \"name\"}.")
        out["tool_choice"] = ({"type": "function", "function": {"name": choice["name"]}} if kind == "tool"
                              else {"auto": "auto", "any": "required", "none": "none"}[kind])
        if choice.get("disable_parallel_tool_use") is True:
            out["parallel_tool_calls"] = False
    return out


# --- answer -----------------------------------------------------------------------------------

def _message(answer, name):
    content = [{"type": "text", "text": answer.content}] if answer.content else []
    uses = [_tool_use(call) for call in answer.tool_calls]
    if None in uses and answer.finish_reason != "length":
        raise _broken_call()
    content += [use for use in uses if use is not None]  # a call cut off by the limit: the text stays
    return {"id": wire.new_id("msg"), "type": "message", "role": "assistant", "model": name, "content": content,
            "stop_reason": STOP_REASONS.get(answer.finish_reason, "end_turn"), "stop_sequence": None,
            "usage": {"input_tokens": answer.usage.prompt_tokens, "output_tokens": answer.usage.completion_tokens}}


def _tool_use(call):
    """The call as a tool_use block, or None when its arguments are no JSON object (a call the
    output limit cut off half-way, or a broken one: the stop reason tells which)."""
    try:
        arguments = json.loads(call.arguments or "{}")
    except ValueError:
        return None
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": arguments} \
        if isinstance(arguments, dict) else None


def _broken_call():
    return VaultError("The model's tool call arguments are not a JSON object; Anthropic's wire cannot "
                      "carry them.", "upstream_bad_response", 502)


def _events(events, name):
    """Anthropic's named stream events: message_start, content blocks (text deltas as they come,
    each tool call whole), message_delta with the stop reason and usage, message_stop; or an
    error event mid-stream."""
    def event(kind, data):
        return b"event: " + kind.encode() + b"\n" + wire.sse({"type": kind, **data})

    index, text_open, cut = 0, False, False
    try:
        yield event("message_start", {"message": {
            "id": wire.new_id("msg"), "type": "message", "role": "assistant", "model": name, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 0, "output_tokens": 0}}})
        for item in events:
            if item.type == "delta":
                if not text_open:
                    yield event("content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}})
                    text_open = True
                yield event("content_block_delta", {"index": index, "delta": {"type": "text_delta", "text": item.content}})
                continue
            if text_open:
                yield event("content_block_stop", {"index": index})
                index, text_open = index + 1, False
            if item.type == "tool_call":
                block = _tool_use(item)
                if block is None:  # unless the limit cut it off (the Done says), the answer is broken
                    cut = True
                    continue
                yield event("content_block_start", {"index": index, "content_block": {**block, "input": {}}})
                yield event("content_block_delta", {"index": index, "delta": {
                    "type": "input_json_delta", "partial_json": json.dumps(block["input"])}})
                yield event("content_block_stop", {"index": index})
                index += 1
            else:
                if cut and item.finish_reason != "length":
                    raise _broken_call()
                yield event("message_delta", {
                    "delta": {"stop_reason": STOP_REASONS.get(item.finish_reason, "end_turn"), "stop_sequence": None},
                    "usage": {"input_tokens": item.usage.prompt_tokens, "output_tokens": item.usage.completion_tokens}})
                yield event("message_stop", {})
    except VaultError as exc:
        yield event("error", {"error": {"type": ERROR_TYPES.get(exc.status, "api_error"), "message": exc.message}})

