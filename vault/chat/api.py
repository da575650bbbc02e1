"""POST /api/chat (README, Chat): JSON or SSE, for a browser session or a Bearer token."""
from flask import Blueprint, request
from flask_login import current_user, login_required

from ..errors import BadRequest, VaultError
from . import relay, usage
from .request import chat_body

bp = Blueprint("chat_api", __name__, url_prefix="/api")


@bp.post("/chat")
@login_required
def chat():  # the playground's (session) and odd requests; a valid token's go through the lane
    return answer(request.get_json(silent=True))


def answer(raw):
    """The response to a decoded request body, for the token in `g` or the session's user."""
    body = chat_body(raw, {"model_id", "stream"})
    model_ref, stream = raw.get("model_id"), raw.get("stream", False)
    if not isinstance(model_ref, str) or not model_ref:
        raise BadRequest("'model_id' must be the id or name of one of your models.")
    if not isinstance(stream, bool):
        raise BadRequest("'stream' must be true or false.")
    target = relay.resolve(model_ref)
    if not stream:
        result, overhead = relay.complete(target, body)
        return relay.json_answer({**result, "key_source": target.key_source}, target, overhead)
    tally = relay.Tally(relay.owner().id, target)
    return relay.sse_response(_events(relay.events(target, body), tally), target)


def _events(upstream, tally):
    """Our events as SSE; ends in exactly one done or one error event."""
    try:
        for event in upstream:
            if event["type"] == "done":
                tally.usage = event.get("usage")
            yield relay.sse(event)
    except VaultError as exc:  # the provider failing, or a request the adapter could not build
        tally.error = True
        yield relay.sse({"type": "error", "error": exc.to_dict()})
    finally:
        upstream.close()  # a client that went away closes the provider's connection too
        tally.book()


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
