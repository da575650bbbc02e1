"""Translation between our OpenAI-shaped chat and Anthropic's Messages API: system prompt, content
blocks, tools (`parameters` ↔ `input_schema`, `tool_calls` ↔ `tool_use`, tool results), stop
reasons and usage."""
import json

from ..errors import BadRequest
from . import http
from .types import Answer, ToolCall, Usage

DEFAULT_MAX_TOKENS = 4096  # Anthropic requires max_tokens; OpenAI callers rarely send it
STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
                "tool_use": "tool_calls", "refusal": "content_filter", "pause_turn": "stop"}
PROMPT_COUNTS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
TOOL_CHOICES = {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}
THINKING_BUDGETS = {"low": 1024, "medium": 4096, "high": 16384}  # reasoning_effort → budget_tokens


def request(target, chat, stream):
    """The Messages API payload for one of our chat requests (README, Chat)."""
    unknown = sorted(set(chat.extra) - {"reasoning_effort"})
    if unknown:
        raise BadRequest(f"'{unknown[0][:40]}' is not supported for Anthropic models through the vault; "
                         "it is passed on only to OpenAI-compatible providers.", "unsupported_for_provider")
    system, messages = split_system(chat.messages)
    options = chat.options
    out = {"model": target.upstream_model or chat.model, "messages": messages,
           "max_tokens": options.get("max_tokens") or options.get("max_completion_tokens") or DEFAULT_MAX_TOKENS}
    if system:
        out["system"] = system
    for name in ("temperature", "top_p"):
        if options.get(name) is not None:
            out[name] = options[name]
    if options.get("stop"):
        out["stop_sequences"] = [options["stop"]] if isinstance(options["stop"], str) else list(options["stop"])
    if options.get("tools"):
        out["tools"] = [tool(t) for t in options["tools"]]
    if options.get("tool_choice") is not None:
        out["tool_choice"] = tool_choice(options["tool_choice"])
    if options.get("parallel_tool_calls") is False and out.get("tools"):
        out["tool_choice"] = {**out.get("tool_choice", {"type": "auto"}), "disable_parallel_tool_use": True}
    answer_tool = json_tool(options)
    if answer_tool is not None:  # JSON out: the one tool the model must call, its input the answer
        if out.get("tools"):
            raise BadRequest("'response_format' together with 'tools' is not supported for Anthropic models.",
                             "unsupported_for_provider")
        out["tools"], out["tool_choice"] = [answer_tool], {"type": "tool", "name": answer_tool["name"]}
    effort = chat.extra.get("reasoning_effort")
    if effort not in (None, "none", "minimal"):
        if effort not in THINKING_BUDGETS:
            raise BadRequest("'reasoning_effort' must be none, minimal, low, medium or high.")
        if answer_tool is not None:  # Anthropic: no forced tool while thinking
            raise BadRequest("'reasoning_effort' together with 'response_format' is not supported for "
                             "Anthropic models.", "unsupported_for_provider")
        budget = THINKING_BUDGETS[effort]
        out["thinking"] = {"type": "enabled", "budget_tokens": budget}
        out["max_tokens"] = max(out["max_tokens"], budget + DEFAULT_MAX_TOKENS)  # it must leave room to answer
        out.pop("temperature", None), out.pop("top_p", None)  # thinking takes neither
    if options.get("user"):
        out["metadata"] = {"user_id": options["user"]}
    if stream:
        out["stream"] = True
    return out


def json_tool(options):
    """The tool that carries a JSON answer for response_format json_object or json_schema, or None."""
    form = options.get("response_format") or {}
    if form.get("type") == "json_object":
        return {"name": "json_answer", "description": "Give the answer as a JSON object.",
                "input_schema": {"type": "object"}}
    if form.get("type") == "json_schema":
        schema = form.get("json_schema") if isinstance(form.get("json_schema"), dict) else {}
        if not isinstance(schema.get("name"), str) or not isinstance(schema.get("schema", {}), dict):
            raise BadRequest("'response_format' json_schema needs a 'name' and a 'schema' object.")
        return {"name": schema["name"], "description": schema.get("description") or "Give the answer.",
                "input_schema": schema.get("schema") or {"type": "object"}}
    if form and form.get("type") != "text":
        raise BadRequest("'response_format' must be text, json_object or json_schema.")
    return None


def split_system(messages):
    """System messages go to the top-level `system`; the rest become alternating turns of blocks."""
    system, turns = [], []
    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(text_of(message.get("content")))
            continue
        role, blocks = ("user", [tool_result(message)]) if role == "tool" else (role, blocks_of(message))
        if turns and turns[-1]["role"] == role:  # tool results and a following user text share a turn
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return "\n\n".join(s for s in system if s), turns


def blocks_of(message):
    content = message.get("content")
    if isinstance(content, list):
        blocks = [part_block(part) for part in content]
    else:
        blocks = [{"type": "text", "text": content}] if content else []
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        blocks.append({"type": "tool_use", "id": call.get("id"), "name": function.get("name"),
                       "input": arguments_object(function.get("arguments"))})
    return blocks


def part_block(part):
    """An OpenAI content part (text, image_url, a PDF file) as an Anthropic block."""
    if part.get("type") == "file":
        data = part["file"].get("file_data")
        if isinstance(data, str) and data.startswith("data:application/pdf;base64,"):
            return {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                                   "data": data.partition(";base64,")[2]}}
        raise BadRequest("A 'file' part reaches Anthropic models only as a PDF in 'file_data' "
                         "(data:application/pdf;base64,…).", "unsupported_for_provider")
    if part.get("type") == "input_audio":
        raise BadRequest("'input_audio' parts are not supported for Anthropic models.", "unsupported_for_provider")
    if part.get("type") == "image_url":
        url = (part.get("image_url") or {}).get("url", "")
        if url.startswith("data:") and ";base64," in url:
            media, _, data = url[5:].partition(";base64,")
            return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
        return {"type": "image", "source": {"type": "url", "url": url}}
    return {"type": "text", "text": part.get("text", "")}


def tool_result(message):
    return {"type": "tool_result", "tool_use_id": message.get("tool_call_id"),
            "content": text_of(message.get("content"))}


def text_of(content):
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content or ""


def arguments_object(arguments):
    """A tool call's JSON-string arguments as the object Anthropic wants."""
    if isinstance(arguments, dict):
        return arguments
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        raise BadRequest("A tool call's arguments are not valid JSON.") from None
    if not isinstance(value, dict):
        raise BadRequest("A tool call's arguments must be a JSON object.")
    return value


def tool(spec):
    function = spec.get("function") or spec
    out = {"name": function.get("name"),
           "input_schema": function.get("parameters") or {"type": "object", "properties": {}}}
    if function.get("description"):
        out["description"] = function["description"]
    return out


def tool_choice(choice):
    if isinstance(choice, dict):
        return {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    return TOOL_CHOICES.get(choice, {"type": "auto"})


def answer(data, fallback_model):
    """A Messages API answer as ours. Raises KeyError/TypeError on an unexpected shape (the
    adapter maps that)."""
    texts, calls = [], []
    for block in data["content"]:
        if block["type"] == "text":
            texts.append(block["text"])
        elif block["type"] == "tool_use":
            if not isinstance(block["id"], str) or not isinstance(block["name"], str):
                raise TypeError("tool_use")
            calls.append(ToolCall(len(calls), block["id"], block["name"], json.dumps(block.get("input") or {})))
    return Answer("".join(texts), tuple(calls), finish_reason(data.get("stop_reason")),
                  usage(counts(data.get("usage"))), data.get("model") or fallback_model)


def finish_reason(stop_reason):
    return STOP_REASONS.get(stop_reason, "stop")


def counts(raw):
    """The counts an Anthropic usage object holds, as ours; prompt tokens include cache reads
    and writes. A stream sends some in message_start and the rest in message_delta."""
    out = {}
    if isinstance(raw, dict):
        prompt = [raw.get(k) for k in PROMPT_COUNTS]
        if any(v is not None for v in prompt):
            out["prompt_tokens"] = sum(http.count(v) for v in prompt)
        if raw.get("output_tokens") is not None:
            out["completion_tokens"] = http.count(raw["output_tokens"])
    return out


def usage(counted):
    return Usage(counted.get("prompt_tokens", 0), counted.get("completion_tokens", 0))
