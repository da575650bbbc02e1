"""Checking an OpenAI-shaped chat body (README, Chat; /api/chat and /v1/chat/completions): one
precise 400 per mistake, and only known fields passed on to the adapters."""
from ..errors import BadRequest
from ..validate import not_an_object, refuse_unknown

ROLES = {"system", "developer", "user", "assistant", "tool"}
MAX_MESSAGES = 2000


def number(low, high):
    return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and low <= v <= high


def _whole(low, high):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


OPTIONS = {  # name: (check, what a valid value is)
    "temperature": (number(0, 2), "a number from 0 to 2"),
    "top_p": (number(0, 1), "a number from 0 to 1"),
    "max_tokens": (_whole(1, 1_000_000), "a whole number from 1 to 1000000"),
    "max_completion_tokens": (_whole(1, 1_000_000), "a whole number from 1 to 1000000"),
    "presence_penalty": (number(-2, 2), "a number from -2 to 2"),
    "frequency_penalty": (number(-2, 2), "a number from -2 to 2"),
    "seed": (_whole(-2**63, 2**63 - 1), "a whole number"),
    "stop": (lambda v: isinstance(v, str) or (isinstance(v, list) and len(v) <= 4
                                              and all(isinstance(s, str) for s in v)),
             "a string or a list of up to 4 strings"),
    "tools": (lambda v: isinstance(v, list) and len(v) <= 128 and all(_tool_ok(t) for t in v),
              'a list of {"type": "function", "function": {"name", "parameters"}} objects'),
    "tool_choice": (lambda v: v in ("auto", "none", "required") or _named_choice(v),
                    '"auto", "none", "required" or {"type": "function", "function": {"name"}}'),
    "parallel_tool_calls": (lambda v: isinstance(v, bool), "true or false"),
    "response_format": (lambda v: isinstance(v, dict), "an object"),
    "user": (lambda v: isinstance(v, str) and len(v) <= 256, "a string of at most 256 characters"),
}


def checked(raw, own_fields, lenient=False):
    """(messages, options) of an OpenAI-shaped chat body, for a ChatRequest. `own_fields` are the
    endpoint's own (model, stream…), which it checks itself; with `lenient` the other fields are
    not refused here: /v1/chat/completions passes them on (a ChatRequest's `extra`)."""
    if not isinstance(raw, dict):
        raise not_an_object(raw)
    if not lenient:
        refuse_unknown(raw, OPTIONS.keys() | own_fields | {"messages"})
    messages, options = _messages(raw.get("messages")), {}
    for name, (ok, what) in OPTIONS.items():
        value = raw.get(name)
        if value is not None:
            if not ok(value):
                raise BadRequest(f"'{name}' must be {what}.")
            options[name] = value
    return messages, options


def _messages(messages):
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list of {\"role\", \"content\"} objects.")
    if len(messages) > MAX_MESSAGES:
        raise BadRequest(f"'messages' has more than {MAX_MESSAGES} entries.")
    for n, message in enumerate(messages):
        problem = _message_problem(message)
        if problem:
            raise BadRequest(f"messages[{n}]: {problem}")
    return messages


def _message_problem(message):
    if not isinstance(message, dict):
        return "each message must be an object."
    role, content = message.get("role"), message.get("content")
    if not isinstance(role, str) or role not in ROLES:
        return "'role' must be one of system, developer, user, assistant, tool."
    if role == "assistant" and message.get("tool_calls") is not None:
        if not isinstance(message["tool_calls"], list) or not all(_call_ok(c) for c in message["tool_calls"]):
            return "'tool_calls' must be a list of {\"id\", \"function\": {\"name\", \"arguments\"}}."
        if content is None:
            return None
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        return "a tool message needs the 'tool_call_id' it answers."
    if isinstance(content, str):
        return None
    if isinstance(content, list) and content and all(_part_ok(p) for p in content):
        return None
    return ("'content' must be a string or a list of parts: {\"type\": \"text\", \"text\"}, "
            "{\"type\": \"image_url\", \"image_url\": {\"url\"}}, {\"type\": \"input_audio\", "
            "\"input_audio\": {…}} or {\"type\": \"file\", \"file\": {…}}.")


def _part_ok(part):
    """A text part; an image by URL or data: URL; audio or a file (passed on to OpenAI-wire
    providers; for Anthropic an image or a PDF becomes a block, the rest a 400 naming it)."""
    if not isinstance(part, dict):
        return False
    kind = part.get("type")
    if kind == "image_url":
        image = part.get("image_url")
        return isinstance(image, dict) and isinstance(image.get("url"), str) and image["url"] != ""
    if kind in ("input_audio", "file"):
        return isinstance(part.get(kind), dict)
    return kind == "text" and isinstance(part.get("text"), str)


def _tool_ok(tool):
    if not isinstance(tool, dict):
        return False
    function = tool.get("function")
    return (tool.get("type", "function") == "function" and isinstance(function, dict)
            and isinstance(function.get("name"), str) and 0 < len(function["name"]) <= 64
            and isinstance(function.get("parameters", {}), dict))


def _call_ok(call):
    if not isinstance(call, dict):
        return False
    function = call.get("function")
    return (isinstance(call.get("id"), str) and isinstance(function, dict)
            and isinstance(function.get("name"), str) and isinstance(function.get("arguments", ""), str))


def _named_choice(value):
    return (isinstance(value, dict) and value.get("type") == "function"
            and isinstance(value.get("function"), dict) and isinstance(value["function"].get("name"), str))
