"""OpenAI's Chat Completions wire (POST /v1/chat/completions) and models (GET /v1/models[/<name>]),
translated to and from the gateway's ChatRequest, answer and events."""
import itertools
import time
import uuid

from werkzeug.wsgi import ClosingIterator

from ..errors import BadRequest, NotFound, VaultError
from ..gateway import core, wire
from ..gateway.request import checked
from ..llm.types import ChatRequest
from ..models import service as models
from ..tokens import service as tokens

OWN_FIELDS = {"model", "stream", "stream_options", "n"}
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
    outcome = core.run(call.principal, ChatRequest(name, messages, options, stream, extra), call.started)
    if not stream:
        return 200, [JSON, *wire.headers(outcome)], wire.dumps(completion(outcome.answer, name))
    try:  # the first event decides: a failing provider is an HTTP error the SDK can raise
        first = next(outcome.events)
    except StopIteration:  # an adapter always ends with Done; this is only for safety's sake
        first = None
    chunks = _chunks(outcome.events, first, name, stream_options.get("include_usage") is True)
    # closed by the server even if never iterated (a generator's own finally would not run then)
    return 200, [*wire.SSE_HEADERS, *wire.headers(outcome)], ClosingIterator(chunks, outcome.events.close)


def completion(answer, name):
    message = {"role": "assistant", "content": answer.content or None}
    if answer.tool_calls:
        message["tool_calls"] = [wire.tool_call(c) for c in answer.tool_calls]
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": name, "choices": [{"index": 0, "message": message, "logprobs": None,
                                        "finish_reason": answer.finish_reason}],
            "usage": wire.usage(answer.usage)}


def _chunks(events, first, name, include_usage):
    meta = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": name}

    def chunk(delta, finish=None):
        return wire.sse({**meta, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    try:
        yield chunk({"role": "assistant", "content": ""})
        for event in itertools.chain([first] if first is not None else [], events):
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
    finally:
        events.close()
