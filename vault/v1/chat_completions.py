"""OpenAI's Chat Completions wire (POST /v1/chat/completions) and models (GET /v1/models[/<name>]),
translated to and from the gateway's ChatRequest, answer and events."""
import time
import uuid

from ..errors import BadRequest, NotFound, VaultError
from ..gateway import core, wire
from ..gateway.request import checked
from ..llm.types import ChatRequest
from ..models import service as models
from ..tokens import service as tokens
from ..validate import refuse_unknown

OWN_FIELDS = {"model", "stream", "stream_options", "n"}
# OpenAI fields passed on as they are, and only these: any other field could steer a provider
# (OpenRouter's `models` and `route` pick another model on the owner's key, past the token's
# model list), cost the owner more (`service_tier`), keep data on their account (`store`), or
# ask for what the vault does not relay back (`logprobs`, `audio`). Those are refused by name.
PASSED_ON = {"logit_bias", "reasoning_effort", "prediction", "metadata", "verbosity", "safety_identifier",
             "prompt_cache_key"}
JSON = ("Content-Type", "application/json")


def list_models(call):
    return 200, [JSON], wire.dumps({"object": "list", "data": list(_usable(call.principal).values())})


def get_model(call):
    name = call.args["name"]
    found = _usable(call.principal).get(name)
    if found is None:  # another user's, or one the token may not use, is no more there than a missing one
        raise NotFound("No such model.")
    return 200, [JSON], wire.dumps(found)


def _usable(principal):
    """{name: OpenAI's model object} of the models the principal may chat with, own first: a
    shared namesake is shadowed."""
    allowed, found = tokens.models_of(principal.token), {}  # allowed None: every model
    for model in models.listed(principal.user):
        if model.name not in found and (allowed is None or model.name in allowed):
            found[model.name] = {"id": model.name, "object": "model", "owned_by": model.provider,
                                 "created": int(model.created_at.timestamp())}
    return found


def create(call):
    raw = call.json()
    messages, options = checked(raw, OWN_FIELDS, lenient=True)
    name, stream, n = raw.get("model"), raw.get("stream", False), raw.get("n", 1)
    if not isinstance(name, str) or not name:
        raise BadRequest("'model' must be the name (or id) of one of your models.")
    stream_options = raw.get("stream_options")
    stream_options = {} if stream_options is None else stream_options
    if not isinstance(stream, bool) or not isinstance(stream_options, dict):
        raise BadRequest("'stream' must be true or false, and 'stream_options' an object.")
    if n != 1 or isinstance(n, bool):
        raise BadRequest("Only n=1 is supported.")
    extra = {k: v for k, v in raw.items() if k not in OWN_FIELDS and k not in options and k != "messages"
             and v is not None}
    refuse_unknown(extra, PASSED_ON, f" The vault passes on only {', '.join(sorted(PASSED_ON))} besides "
                                     "the fields it checks.")
    outcome = core.run(call.principal, ChatRequest(name, messages, options, stream, extra), call.started)
    if not stream:
        return 200, [JSON, *wire.headers(outcome)], wire.dumps(completion(outcome.answer, name))
    include_usage = stream_options.get("include_usage") is True
    return wire.streamed(outcome, lambda events: _chunks(events, name, include_usage))


def completion(answer, name):
    message = {"role": "assistant", "content": answer.content or None}
    if answer.tool_calls:
        message["tool_calls"] = [wire.tool_call(c) for c in answer.tool_calls]
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": name, "choices": [{"index": 0, "message": message, "logprobs": None,
                                        "finish_reason": answer.finish_reason}],
            "usage": wire.usage(answer.usage)}


def _chunks(events, name, include_usage):
    meta = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": name}

    def chunk(delta, finish=None):
        return wire.sse({**meta, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    try:
        yield chunk({"role": "assistant", "content": ""})
        for event in events:
            if event.type == "delta":
                yield chunk({"content": event.content})
            elif event.type == "tool_call":
                yield chunk({"tool_calls": [{"index": event.index, **wire.tool_call(event)}]})
            else:
                yield chunk({}, event.finish_reason)
                if include_usage:
                    yield wire.sse({**meta, "choices": [], "usage": wire.usage(event.usage)})
        yield b"data: [DONE]\n\n"
    except VaultError as exc:
        yield wire.sse({"error": {"message": exc.message, "type": "api_error", "code": exc.code}})
