"""GET /v1/models and POST /v1/chat/completions in OpenAI's shapes, so any OpenAI client can use
the vault as its gateway (Bearer API token only), whatever the provider behind the model."""
import itertools
import time
import uuid

from flask import Blueprint, g, jsonify, request
from flask_login import current_user

from ..auth.bearer import via_token
from ..errors import BadRequest, Unauthorized, VaultError
from ..models import service as models
from ..tokens import service as tokens
from . import relay
from .request import chat_body

bp = Blueprint("openai_compat", __name__, url_prefix="/v1")
OWN_FIELDS = {"model", "stream", "stream_options", "n"}


@bp.before_request
def token_only():
    if not via_token():  # never the session cookie: this endpoint is for programs
        raise Unauthorized("Send Authorization: Bearer <api token>; create one on the Tokens page.")


@bp.get("/models")
def list_models():
    allowed = tokens.models_of(g.api_token)  # None: every model
    seen, data = set(), []
    for model in models.listed(current_user):  # own first: a shared namesake is shadowed
        if model.name not in seen and (allowed is None or model.name in allowed):
            seen.add(model.name)
            data.append({"id": model.name, "object": "model", "owned_by": model.provider,
                         "created": int(model.created_at.timestamp())})
    return jsonify(object="list", data=data)


@bp.post("/chat/completions")
def completions():  # a request with a valid token is answered by the lane; this is the rest
    return answer(request.get_json(silent=True))


def answer(raw):
    """The response to a decoded request body, for the token in `g` (the lane's and the view's)."""
    body = chat_body(raw, OWN_FIELDS, lenient=True)
    if not isinstance(raw.get("model"), str) or not raw["model"]:
        raise BadRequest("'model' must be the name (or id) of one of your models.")
    stream, options, n = raw.get("stream", False), raw.get("stream_options"), raw.get("n", 1)
    options = {} if options is None else options
    if not isinstance(stream, bool) or not isinstance(options, dict):
        raise BadRequest("'stream' must be true or false, and 'stream_options' an object.")
    if n != 1 or isinstance(n, bool):
        raise BadRequest("Only n=1 is supported.")
    target = relay.resolve(raw["model"])
    if not stream:
        result, overhead = relay.complete(target, body)
        return relay.json_answer(completion(result, raw["model"]), target, overhead)
    return _stream(target, body, raw["model"], options.get("include_usage") is True)


def _stream(target, body, name, include_usage):
    overhead = relay.overhead_ms(0)
    tally = relay.Tally(relay.owner().id, target)
    upstream = relay.events(target, body)
    try:  # the first event decides: a failing provider is an HTTP error the SDK can raise
        first = next(upstream)
    except VaultError:
        tally.error = True
        tally.book()
        raise
    chunks = _chunks(itertools.chain([first], upstream), upstream, name, include_usage, tally)
    return relay.sse_response(chunks, target, overhead)


def _chunks(events, upstream, name, include_usage, tally):
    meta = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": name}

    def chunk(delta, finish=None):
        return relay.sse({**meta, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    try:
        yield chunk({"role": "assistant", "content": ""})
        for event in events:
            if event["type"] == "delta":
                yield chunk({"content": event["content"]})
            elif event["type"] == "tool_call":
                yield chunk({"tool_calls": [{"index": event["index"], **tool_call(event)}]})
            elif event["type"] == "done":
                tally.usage = event.get("usage")
                yield chunk({}, event.get("finish_reason") or "stop")
                if include_usage:
                    yield relay.sse({**meta, "choices": [], "usage": usage_of(tally.usage)})
        yield b"data: [DONE]\n\n"
    except VaultError as exc:
        tally.error = True
        yield relay.sse({"error": {"message": exc.message, "type": "api_error", "code": exc.code}})
    finally:
        upstream.close()
        tally.book()


def completion(result, name):
    message = {"role": "assistant", "content": result.get("content") or None}
    if result.get("tool_calls"):
        message["tool_calls"] = [tool_call(c) for c in result["tool_calls"]]
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": name, "choices": [{"index": 0, "message": message, "logprobs": None,
                                        "finish_reason": result.get("finish_reason") or "stop"}],
            "usage": usage_of(result.get("usage"))}


def tool_call(call):
    """Ours ({"id","name","arguments"}, or already OpenAI-shaped) in OpenAI's shape."""
    if "function" in call:
        return {"id": call["id"], "type": "function", "function": call["function"]}
    return {"id": call["id"], "type": "function",
            "function": {"name": call["name"], "arguments": call.get("arguments") or ""}}


def usage_of(usage):
    prompt, completion_tokens = (usage or {}).get("prompt_tokens") or 0, (usage or {}).get("completion_tokens") or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens}
