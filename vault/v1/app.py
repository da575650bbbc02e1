"""The /v1 app: a small WSGI app that owns /v1 outright, mounted beside the Flask app
(vault/__init__.py). Programs only: an API token (any scope, as every scope grants chat) as
Bearer, or as x-api-key on /v1/messages where Anthropic's clients send it; never a cookie. Every
answer, errors included, is JSON or a stream of events in its wire's shape (Anthropic's on
/v1/messages, OpenAI's elsewhere).

Why not Flask here: its request machinery (request context, session, hooks, routing, Response)
costs ~0.1 ms a call, a large part of what a gateway hop should add (README, Performance). This
app reads the environ itself and keeps what /v1 needs: routing (Werkzeug's, the map Flask uses),
the token, a bounded JSON body, an app context (config, and the database connection returned on
teardown), and the security headers every answer carries."""
import json
import time
from http import HTTPStatus

from werkzeug.exceptions import MethodNotAllowed, NotFound as NoRoute
from werkzeug.routing import Map, RequestRedirect, Rule

from .. import errors, headers
from ..errors import BadRequest, Unauthorized, VaultError
from ..gateway import wire
from ..gateway.core import Principal
from ..tokens import service as tokens
from ..validate import not_an_object
from . import chat_completions, embeddings, messages, responses

url_map = Map([Rule("/v1/models", endpoint=chat_completions.list_models, methods=["GET"]),
               Rule("/v1/models/<path:name>", endpoint=chat_completions.get_model, methods=["GET"]),
               Rule("/v1/chat/completions", endpoint=chat_completions.create, methods=["POST"]),
               Rule("/v1/embeddings", endpoint=embeddings.create, methods=["POST"]),
               Rule("/v1/messages", endpoint=messages.create, methods=["POST"]),
               Rule("/v1/responses", endpoint=responses.create, methods=["POST"])],
              strict_slashes=False, redirect_defaults=False, merge_slashes=False)
ALWAYS = [*headers.SECURITY, headers.NO_STORE]
NO_TOKEN = "Send Authorization: Bearer <api token>; create one on the Tokens page."


class Call:
    """One request to /v1, as a handler sees it: its body already read (before the token is
    looked up, so a client slow to send it holds no database connection)."""
    __slots__ = ("principal", "environ", "started", "args", "body")

    def __init__(self, environ, started, args, body):
        self.environ, self.started, self.args, self.body = environ, started, args, body
        self.principal = None

    def json(self):
        """The body as JSON (any value), or the 4xx that says why it is not."""
        if self.environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != "application/json":
            raise not_an_object(None)
        try:
            return json.loads(self.body)
        except RecursionError:
            raise BadRequest(errors.TOO_DEEP, "invalid_json") from None
        except ValueError:  # UnicodeDecodeError included
            raise not_an_object(None) from None


class V1:
    def __init__(self, flask_app):
        self.flask = flask_app
        self.routes = url_map.bind("localhost")  # matched on the full path: /v1 + PATH_INFO below the mount

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        # PATH_INFO is WSGI's latin-1 decoding of the path's bytes: model names are UTF-8
        path = "/v1" + environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
        method = environ["REQUEST_METHOD"].upper()
        with self.flask.app_context():  # its teardown returns the database connection
            try:
                handler, args = self.routes.match(path, method)
                call = Call(environ, started, args, _read(environ, self.flask.config["MAX_CONTENT_LENGTH"]))
                call.principal = _authenticate(environ, handler is messages.create)
                status, answer_headers, body = handler(call)
            except Exception as exc:  # noqa: BLE001 - every failure answers in its wire's error shape
                status, answer_headers, body = _error(exc, method, path, path.rstrip("/") == "/v1/messages")
        if isinstance(body, bytes):
            answer_headers.append(("Content-Length", str(len(body))))
            body = [b"" if method == "HEAD" else body]
        answer_headers.append(("X-Request-Id", wire.new_id("req")))
        start_response(f"{status} {HTTPStatus(status).phrase}", answer_headers + ALWAYS)
        return body


def _authenticate(environ, anthropic):
    """The token's principal. Anthropic's clients send their key as x-api-key, so /v1/messages
    takes the token there too."""
    scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    if not token and anthropic:
        token = environ.get("HTTP_X_API_KEY", "").strip()
    if not token:
        raise Unauthorized(NO_TOKEN)
    found = tokens.authenticate(token)
    if found is None:
        raise Unauthorized("The API token is invalid, revoked or expired.")
    return Principal(found.user, found)


def _read(environ, limit):
    """The body's bytes, refused past `limit` (VAULT_MAX_BODY_BYTES) before reading them."""
    length = environ.get("CONTENT_LENGTH") or ""
    if length and not length.isdecimal():
        raise BadRequest("Content-Length is not a number.")
    if length and int(length) > limit:
        raise _too_large(limit)
    if not length and not environ.get("wsgi.input_terminated"):  # no length, no end: no body (as Werkzeug)
        return b""
    try:
        data = environ["wsgi.input"].read(int(length) if length else limit + 1)  # chunked: one past the limit
    except (OSError, ValueError):  # a broken chunked body, a client gone mid-body
        raise BadRequest("The request body could not be read (broken chunked encoding, or cut short).") from None
    if len(data) > limit:
        raise _too_large(limit)
    return data


def _too_large(limit):
    return VaultError(f"The request body is larger than the {limit // 1024} KiB this server accepts.",
                      "payload_too_large", 413)


def _error(exc, method, path, anthropic=False):
    if isinstance(exc, (NoRoute, RequestRedirect)):  # OpenAI's wording and type: a client must not read it as "no such model"
        served = ", ".join(sorted(r.rule for r in url_map.iter_rules()))
        return _json_error("not_found", f"Invalid URL ({method} {path[:100]}): the vault serves {served}.",
                           404, "invalid_request_error")
    if isinstance(exc, MethodNotAllowed):
        allowed = ", ".join(exc.valid_methods)
        answer = _json_error("method_not_allowed", f"{method} is not allowed here; use {allowed}.", 405)
        answer[1].append(("Allow", allowed))
        return answer
    render = messages.error if anthropic else _json_error  # each wire's clients read their own shape
    answer = render(*errors.describe(exc, f"{method} {path[:100]}"))
    answer[1].extend(getattr(exc, "headers", ()))  # a provider's Retry-After
    return answer


def _json_error(code, message, status, kind=None):
    body = {"error": {"code": code, "message": message, "type": kind or _openai_type(status), "param": None}}
    return status, [("Content-Type", "application/json")], json.dumps(body).encode()


def _openai_type(status):
    return {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
            404: "not_found_error", 429: "rate_limit_error"}.get(status, "api_error")
