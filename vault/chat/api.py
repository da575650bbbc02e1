"""POST /api/chat (README, Chat): our JSON chat, whole or as server-sent events, for a browser
session or a Bearer token; and GET /api/usage."""
from flask import Blueprint, Response, g, request
from flask_login import current_user, login_required

from ..auth.bearer import principal
from ..errors import BadRequest, VaultError
from ..gateway import core, usage, wire
from ..gateway.request import checked
from ..llm.types import ChatRequest

bp = Blueprint("chat_api", __name__, url_prefix="/api")


@bp.post("/chat")
@login_required
def chat():
    raw = request.get_json(silent=True)
    messages, options = checked(raw, {"model_id", "stream"})
    model, stream = raw.get("model_id"), raw.get("stream", False)
    if not isinstance(model, str) or not model:
        raise BadRequest("'model_id' must be the id or name of one of your models.")
    if not isinstance(stream, bool):
        raise BadRequest("'stream' must be true or false.")
    outcome = core.run(principal(), ChatRequest(model, messages, options, stream), g.request_started)
    if not stream:
        answer = outcome.answer
        body = {"content": answer.content, "tool_calls": [wire.tool_call(c) for c in answer.tool_calls],
                "finish_reason": answer.finish_reason, "model": answer.model,
                "usage": _usage(answer.usage),
                "key_source": outcome.target.key_source}
        return wire.dumps(body), 200, [("Content-Type", "application/json"), *wire.headers(outcome)]
    return Response(_events(outcome.events), headers=[*wire.SSE_HEADERS, *wire.headers(outcome)])


def _events(events):
    """Our events as SSE; ends in exactly one done or one error event."""
    try:
        for event in events:
            if event.type == "delta":
                yield wire.sse({"type": "delta", "content": event.content})
            elif event.type == "tool_call":
                yield wire.sse({"type": "tool_call", "index": event.index, "id": event.id,
                                "name": event.name, "arguments": event.arguments})
            else:
                yield wire.sse({"type": "done", "finish_reason": event.finish_reason,
                                "usage": _usage(event.usage)})
    except VaultError as exc:  # the provider failing, or a request the adapter could not build
        yield wire.sse({"type": "error", "error": exc.to_dict()})
    finally:
        events.close()


def _usage(used):
    return {"prompt_tokens": used.prompt_tokens, "completion_tokens": used.completion_tokens}


@bp.get("/usage")
@login_required
def usage_report():
    days = request.args.get("days", "30")
    if not (days.isascii() and days.isdecimal()) or not 1 <= int(days) <= 366:
        raise BadRequest("'days' must be a whole number from 1 to 366.")
    rows = usage.since(current_user, int(days))
    return {"usage": [{"model": r.model_name or r.model, "model_id": r.model, "provider": r.provider,
                       "key_source": r.key_source, "day": r.day.isoformat(), "requests": r.requests,
                       "prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens,
                       "errors": r.errors} for r in rows]}
