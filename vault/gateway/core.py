"""One chat (or embedding) through the vault, whatever the endpoint: who asks, which model and key
(the token's model list, the secret's allowed hosts), the provider's answer or events, the
gateway's own time, and the usage ledger. Endpoints translate their wire to a ChatRequest and
back; which routes a token's scopes reach is theirs to decide."""
import time
from dataclasses import dataclass

from .. import llm, resolver
from ..db import close_connection
from ..errors import NotFound, VaultError
from ..llm.types import Answer, Done, Embeddings
from ..tokens import service as tokens
from . import usage


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a signed-in user (token None), or an API token and the user it belongs to."""
    user: object
    token: object = None

    def check_model(self, name):
        """Before any key is opened: a token limited to some models may use only those."""
        if self.token is not None:
            tokens.check_model(self.token, name)


@dataclass(slots=True)
class Outcome:
    """What run() gives an endpoint: the model's target (for X-Key-Source), the gateway's own
    milliseconds so far, and the whole `answer` or the `events` iterator (closing it closes the
    provider's connection)."""
    target: resolver.Target
    overhead_ms: float
    answer: Answer | Embeddings | None = None
    events: object = None


def run(principal, request, started):
    """Resolves request.model for the principal, then calls its provider. `started`
    (perf_counter) is when the request arrived. Raises NotFound, ModelNotAllowed, MissingApiKey,
    HostNotAllowed… before any upstream call, and UpstreamError when a whole answer fails; a
    stream's failures come out of its iterator (the first event included)."""
    target = resolve(principal, request.model)
    adapter = llm.adapter_for(target)
    if request.stream:
        events = _counted(principal.user.id, target, adapter.stream(target, request))
        return Outcome(target, _ms(time.perf_counter() - started), events=events)
    return _whole(principal.user.id, target, started, lambda: adapter.complete(target, request))


class UnsupportedForProvider(VaultError):
    code, status = "unsupported_for_provider", 400


def embed(principal, request, started):
    """An EmbeddingRequest's vectors, as run() gives a whole answer: counted, timed, and refused
    with 400 unsupported_for_provider where the model's wire has no embeddings."""
    target = resolve(principal, request.model)
    adapter = llm.adapter_for(target)
    if not hasattr(adapter, "embed"):
        raise UnsupportedForProvider(f"{target.label} has no embeddings endpoint: the model {target.name!r} "
                                     "cannot embed. Use a model of an OpenAI-compatible provider.")
    return _whole(principal.user.id, target, started, lambda: adapter.embed(target, request))


def resolve(principal, ref):
    if not (len(ref) <= 200 and ref.isprintable()):  # no model has such a name or id
        raise NotFound("No such model.")
    target = resolver.resolve_by_name_or_id(principal.user, ref, principal.check_model)
    # The rest of a chat needs no database (usage is counted in memory): the pooled connection
    # goes back now, not after the provider's answer, or the pool would cap concurrent chats.
    close_connection()
    return target


def _whole(user_id, target, started, call):
    """The provider's whole answer, counted either way; the gateway's time is what came before."""
    called = time.perf_counter()
    try:
        answer = call()
    except VaultError:
        usage.record(user_id, target, error=True)
        raise
    usage.record(user_id, target, answer.usage)
    return Outcome(target, _ms(called - started), answer=answer)


def _counted(user_id, target, upstream):
    """The adapter's events, counted once when the stream ends, however it ends (a client that
    goes away closes this, which closes the provider's connection)."""
    used, failed = None, False
    try:
        for event in upstream:
            if type(event) is Done:
                used = event.usage
            yield event
    except VaultError:
        failed = True
        raise
    finally:
        upstream.close()
        usage.record(user_id, target, used, failed)


def _ms(seconds):
    return seconds * 1000
