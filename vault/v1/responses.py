"""OpenAI's Responses wire (POST /v1/responses), stateless: the request becomes the gateway's
ChatRequest (any provider's model), the answer or events become a response object and its typed
`response.*` events. What needs state or OpenAI's own servers (previous_response_id, store: true,
built-in tools, reasoning items) is refused by name."""
import itertools
import time

from ..errors import BadRequest, VaultError
from ..gateway import core, wire
from ..gateway.request import checked
from ..llm.types import ChatRequest
from ..validate import not_an_object, refuse_unknown

FIELDS = {"model", "input", "instructions", "tools", "tool_choice", "max_output_tokens", "text", "stream",
          "temperature", "top_p", "parallel_tool_calls", "user", "store", "previous_response_id", "metadata"}
ROLES = {"user", "system", "developer", "assistant"}
JSON = ("Content-Type", "application/json")


def create(call):
    raw = call.json()
    if not isinstance(raw, dict):
        raise not_an_object(raw)
    refuse_unknown(raw, FIELDS)
    if raw.get("previous_response_id") is not None or raw.get("store") is True:
        field = "previous_response_id" if raw.get("previous_response_id") is not None else "store"
        raise BadRequest(f"'{field}' needs a stored response; the vault keeps none. Send the whole "
                         "conversation as 'input' (and store: false).", "unsupported_feature")
    request, echo = _chat_request(raw)
    outcome = core.run(call.principal, request, call.started)
    if not request.stream:
        answer = outcome.answer
        body = _response(echo, "incomplete" if answer.finish_reason == "length" else "completed",
                         _output(answer.content, answer.tool_calls), answer.usage)
        return 200, [JSON, *wire.headers(outcome)], wire.dumps(body)
    return wire.streamed(outcome, lambda events: _events(events, echo))


# --- request ----------------------------------------------------------------------------------

def _chat_request(raw):
    """(ChatRequest, what the response object repeats of the request)."""
    name, stream = raw.get("model"), raw.get("stream", False)
    if not isinstance(name, str) or not name:
        raise BadRequest("'model' must be the name (or id) of one of your models.")
    if not isinstance(stream, bool):
        raise BadRequest("'stream' must be true or false.")
    instructions = raw.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise BadRequest("'instructions' must be a string.")
    body = {"messages": ([{"role": "system", "content": instructions}] if instructions else [])
            + _input(raw.get("input"))}
    for ours, theirs in (("max_tokens", "max_output_tokens"), ("temperature", "temperature"),
                         ("top_p", "top_p"), ("parallel_tool_calls", "parallel_tool_calls"), ("user", "user")):
        if raw.get(theirs) is not None:
            body[ours] = raw[theirs]
    if raw.get("tools") is not None:
        body["tools"] = _tools(raw["tools"])
    if raw.get("tool_choice") is not None:
        body["tool_choice"] = _tool_choice(raw["tool_choice"])
    text = raw.get("text")
    if text is not None:
        body["response_format"] = _format(text)
    if raw.get("metadata") is not None and not isinstance(raw["metadata"], dict):
        raise BadRequest("'metadata' must be an object.")
    try:
        messages, options = checked(body, set())
    except BadRequest as exc:  # its words name our fields: say which of theirs
        raise BadRequest(exc.message.replace("'max_tokens'", "'max_output_tokens'")
                         .replace("'response_format'", "'text.format'"), exc.code) from None
    echo = {"model": name, "instructions": instructions, "tools": raw.get("tools") or [],
            "tool_choice": raw.get("tool_choice") or "auto", "parallel_tool_calls": raw.get("parallel_tool_calls", True),
            "temperature": raw.get("temperature"), "top_p": raw.get("top_p"),
            "max_output_tokens": raw.get("max_output_tokens"), "text": text or {"format": {"type": "text"}},
            "metadata": raw.get("metadata") or {}, "user": raw.get("user")}
    return ChatRequest(name, messages, options, stream), echo


def _input(value):
    if isinstance(value, str) and value:
        return [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise BadRequest("'input' must be a non-empty string or a non-empty list of items.")
    messages = []
    for n, item in enumerate(value):
        if not isinstance(item, dict):
            raise BadRequest(f"input[{n}]: each item must be an object.")
        kind = item.get("type", "message")
        if kind == "message":
            messages.append(_message(n, item))
        elif kind == "function_call":
            call = {"id": _text(n, item, "call_id"), "type": "function",
                    "function": {"name": _text(n, item, "name"), "arguments": _text(n, item, "arguments", True)}}
            last = messages[-1] if messages else None
            if last and last["role"] == "assistant" and last.get("tool_calls") is not None:
                last["tool_calls"].append(call)  # calls made together stay one assistant turn
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            if not isinstance(output, str):
                raise BadRequest(f"input[{n}]: a function_call_output's 'output' must be a string.")
            messages.append({"role": "tool", "tool_call_id": _text(n, item, "call_id"), "content": output})
        else:
            raise BadRequest(f"input[{n}]: {str(kind)[:40]!r} items are not supported by the vault "
                             "(message, function_call and function_call_output are).", "unsupported_feature")
    return messages


def _message(n, item):
    role, content = item.get("role"), item.get("content")
    if not isinstance(role, str) or role not in ROLES:
        raise BadRequest(f"input[{n}]: 'role' must be one of user, system, developer, assistant.")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list) or not content:
        raise BadRequest(f"input[{n}]: 'content' must be a string or a non-empty list of parts.")
    return {"role": role, "content": [_part(n, part) for part in content]}


def _part(n, part):
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in ("input_text", "output_text") and isinstance(part.get("text"), str):
        return {"type": "text", "text": part["text"]}
    if kind == "input_image" and isinstance(part.get("image_url"), str) and part["image_url"]:
        return {"type": "image_url", "image_url": {"url": part["image_url"]}}
    raise BadRequest(f"input[{n}]: a {str(kind)[:40]!r} part is not supported here (input_text, "
                     "output_text and input_image by URL are).")


def _text(n, item, name, empty=False):
    value = item.get(name)
    if not isinstance(value, str) or not (value or empty):
        raise BadRequest(f"input[{n}]: '{name}' must be a string.")
    return value


def _tools(tools):
    if not isinstance(tools, list):
        raise BadRequest("'tools' must be a list of function tools.")
    out = []
    for tool in tools:
        if not isinstance(tool, dict) or tool.get("type") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else None
            raise BadRequest(f"Only function tools are supported by the vault, not {str(kind)[:40]!r} "
                             "(built-in tools run on OpenAI's servers).", "unsupported_feature")
        function = {k: tool[k] for k in ("name", "description", "parameters", "strict") if tool.get(k) is not None}
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice):
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise BadRequest("'tool_choice' must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"name\"}.")


def _format(text):
    form = text.get("format") if isinstance(text, dict) else None
    kind = form.get("type") if isinstance(form, dict) else None
    if kind in ("text", "json_object"):
        return {"type": kind}
    if kind == "json_schema" and isinstance(form.get("name"), str) and isinstance(form.get("schema"), dict):
        schema = {k: form[k] for k in ("name", "schema", "strict", "description") if form.get(k) is not None}
        return {"type": "json_schema", "json_schema": schema}
    raise BadRequest("'text' must be {\"format\": {\"type\": \"text\" | \"json_object\"}} or "
                     "{\"format\": {\"type\": \"json_schema\", \"name\", \"schema\"}}.")


# --- answer -----------------------------------------------------------------------------------

def _response(echo, status, output, usage=None, response_id=None, created=None):
    return {"id": response_id or wire.new_id("resp"), "object": "response", "created_at": created or int(time.time()),
            "status": status, "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
            "output": output, **echo, "usage": None if usage is None else {
                "input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens, "input_tokens_details": {"cached_tokens": 0},
                "output_tokens_details": {"reasoning_tokens": 0}}}


def _output(text, calls, message_id=None):
    items = [_text_item(message_id or wire.new_id("msg"), text)] if text else []
    return items + [_call_item(call) for call in calls]


def _text_item(item_id, text, status="completed"):
    content = [{"type": "output_text", "text": text, "annotations": []}] if status == "completed" else []
    return {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": content}


def _call_item(call, status="completed"):
    return {"type": "function_call", "id": f"fc_{call.id}", "call_id": call.id, "name": call.name,
            "arguments": call.arguments if status == "completed" else "", "status": status}


def _events(events, echo):
    """The typed events of a streamed response, each with its sequence_number: created, then per
    output item added, its deltas and done, then completed (or failed mid-stream)."""
    numbers, response_id, created = itertools.count(), wire.new_id("resp"), int(time.time())
    text, message_id, output = [], wire.new_id("msg"), []

    def event(kind, **data):
        return b"event: " + kind.encode() + b"\n" + wire.sse({"type": kind, "sequence_number": next(numbers), **data})

    def close_text():
        full = "".join(text)
        index = len(output)
        part = {"type": "output_text", "text": full, "annotations": []}
        yield event("response.output_text.done", item_id=message_id, output_index=index, content_index=0, text=full)
        yield event("response.content_part.done", item_id=message_id, output_index=index, content_index=0, part=part)
        output.append(_text_item(message_id, full))
        yield event("response.output_item.done", output_index=index, item=output[-1])

    try:
        yield event("response.created", response=_response(echo, "in_progress", [], None, response_id, created))
        for item in events:
            if item.type == "delta":
                if not text:
                    index = len(output)
                    yield event("response.output_item.added", output_index=index,
                                item=_text_item(message_id, "", "in_progress"))
                    yield event("response.content_part.added", item_id=message_id, output_index=index,
                                content_index=0, part={"type": "output_text", "text": "", "annotations": []})
                text.append(item.content)
                yield event("response.output_text.delta", item_id=message_id, output_index=len(output),
                            content_index=0, delta=item.content)
                continue
            if text:
                yield from close_text()
                text, message_id = [], wire.new_id("msg")
            if item.type == "tool_call":
                index, done = len(output), _call_item(item)
                yield event("response.output_item.added", output_index=index, item=_call_item(item, "in_progress"))
                yield event("response.function_call_arguments.delta", item_id=done["id"], output_index=index,
                            delta=item.arguments)
                yield event("response.function_call_arguments.done", item_id=done["id"], output_index=index,
                            arguments=item.arguments)
                output.append(done)
                yield event("response.output_item.done", output_index=index, item=done)
            else:
                status = "incomplete" if item.finish_reason == "length" else "completed"
                yield event(f"response.{status}", response=_response(echo, status, output, item.usage,
                                                                       response_id, created))
    except VaultError as exc:
        failed = _response(echo, "failed", output, None, response_id, created)
        failed["error"] = {"code": exc.code, "message": exc.message}
        yield event("response.failed", response=failed)
