"""OpenAI's Embeddings wire (POST /v1/embeddings), for models of OpenAI-compatible providers;
an Anthropic model answers 400 unsupported_for_provider."""
from ..errors import BadRequest
from ..gateway import core, wire
from ..gateway.request import OPTIONS
from ..llm.types import EmbeddingRequest
from ..validate import not_an_object, refuse_unknown

FIELDS = {"model", "input", "encoding_format", "dimensions", "user"}
MAX_INPUTS = 2048
INPUT_SHAPE = "'input' must be a string, a list of strings, a list of token ids, or a list of such lists."


def create(call):
    raw = call.json()
    if not isinstance(raw, dict):
        raise not_an_object(raw)
    refuse_unknown(raw, FIELDS)  # no field is dropped without a word
    name = raw.get("model")
    if not isinstance(name, str) or not name:
        raise BadRequest("'model' must be the name (or id) of one of your models.")
    request = EmbeddingRequest(name, _input(raw.get("input")), _options(raw))
    outcome = core.embed(call.principal, request, call.started)
    vectors, used = outcome.answer.vectors, outcome.answer.usage
    body = {"object": "list", "model": name,
            "data": [{"object": "embedding", "index": n, "embedding": v} for n, v in enumerate(vectors)],
            "usage": {"prompt_tokens": used.prompt_tokens, "total_tokens": used.prompt_tokens}}
    return 200, [("Content-Type", "application/json"), *wire.headers(outcome)], wire.dumps(body)


def _input(value):
    if isinstance(value, str) and value:
        return value
    if not isinstance(value, list) or not 0 < len(value) <= MAX_INPUTS:
        raise BadRequest(INPUT_SHAPE + f" A list holds 1 to {MAX_INPUTS} of them.")
    if all(isinstance(v, str) and v for v in value) or _token_ids(value):
        return value
    if all(isinstance(v, list) and v and _token_ids(v) for v in value):
        return value
    raise BadRequest(INPUT_SHAPE + " Strings may not be empty.")


def _token_ids(values):
    return all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**31 for v in values)


def _options(raw):
    options = {}
    if raw.get("encoding_format") is not None:
        if raw["encoding_format"] not in ("float", "base64"):
            raise BadRequest("'encoding_format' must be \"float\" or \"base64\".")
        options["encoding_format"] = raw["encoding_format"]
    if raw.get("dimensions") is not None:
        if not _token_ids([raw["dimensions"]]) or not 1 <= raw["dimensions"] <= 65_536:
            raise BadRequest("'dimensions' must be a whole number from 1 to 65536.")
        options["dimensions"] = raw["dimensions"]
    if raw.get("user") is not None:
        user_ok, what = OPTIONS["user"]
        if not user_ok(raw["user"]):
            raise BadRequest(f"'user' must be {what}.")
        options["user"] = raw["user"]
    return options
