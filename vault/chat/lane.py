"""The chat endpoints' short path for programs. A POST to /v1/chat/completions or /api/chat with
a valid Bearer token and a JSON object body is answered here, in front of Flask: the endpoint's own
`answer` (the one its Flask view calls) runs in an app context, and errors and security headers
are rendered as Flask would render them. It skips Flask's request context, routing, session and
hooks: ~130 µs of a gateway hop that should add well under a millisecond (README, Performance).

Anything else goes on to Flask untouched, which answers with its usual precise error: every other
route and method, browser sessions, a missing or unknown token, and a body that is not a JSON
object, not sized or too large (its bytes are put back for Flask to read)."""
import io
from http import HTTPStatus
import json
import time

from flask import g

from .. import errors, headers, resolver
from ..auth.bearer import bearer_of
from ..tokens import service as tokens
from . import api, openai_compat, relay

ANSWER_HEADERS = [*headers.SECURITY, headers.NO_STORE]
ANSWERS = {"/v1/chat/completions": (openai_compat.answer, "model"), "/api/chat": (api.answer, "model_id")}


class ChatLane:
    def __init__(self, app):
        self.app, self.flask = app, app.wsgi_app

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        path = environ.get("PATH_INFO")
        endpoint = ANSWERS.get(path)
        response = None
        if endpoint is not None and environ.get("REQUEST_METHOD") == "POST":
            response = self.respond(*endpoint, path, environ, started)
        if response is None:
            return self.flask(environ, start_response)
        if isinstance(response, tuple):  # relay.json_answer's (body, status, headers)
            body, status, answer_headers = response
            start_response(f"{status} {HTTPStatus(status).phrase}",
                           [*answer_headers, ("Content-Length", str(len(body))), *ANSWER_HEADERS])
            return [body]
        headers.secure(response)
        # What Response.__call__ would send for a POST, without its header fix-ups (~15 µs):
        # our answers are complete (Content-Length set, or a stream of bytes)
        start_response(response.status, response.headers.to_wsgi_list())
        return response.response

    def respond(self, answer, ref_field, path, environ, started):
        """The response, or None to leave the request to Flask."""
        token = bearer_of(environ.get("HTTP_AUTHORIZATION", ""))
        raw = self.body(environ) if token else None
        if not isinstance(raw, dict):
            return None
        with self.app.app_context():  # its teardown returns the database connection to the pool
            g.request_started = started
            try:
                g.api_token = self.authenticate(token, raw.get(ref_field))
                if g.api_token is None:
                    return None
                response = answer(raw)
            except Exception as exc:  # noqa: BLE001 - rendered as every route renders it
                response = errors.json_error(*errors.describe(exc, f"POST {path}"), path)
        return response

    @staticmethod
    def authenticate(token, ref):
        """The token's row; with a plausible model reference, the model's row is read in the same
        statement and left in `g` for relay.resolve (one round trip, not two)."""
        if not relay.plausible(ref):
            return tokens.authenticate(token)
        found = resolver.token_and_model(tokens.digest(token), ref)
        if found is None:
            return None
        g.model_row = (ref, found[1])
        return tokens.admit(found[0])

    def body(self, environ):
        """The decoded JSON body, or None; the bytes read are put back for Flask either way."""
        if environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != "application/json":
            return None
        length = environ.get("CONTENT_LENGTH", "")
        if not length.isdecimal() or not 0 < int(length) <= self.app.config["MAX_CONTENT_LENGTH"]:
            return None
        try:
            data = environ["wsgi.input"].read(int(length))
        except Exception:  # noqa: BLE001 - a client gone mid-body: Flask's reader words it
            return None
        environ["wsgi.input"] = io.BytesIO(data)
        try:
            return json.loads(data)
        except (ValueError, RecursionError):  # UnicodeDecodeError included; Flask words each
            return None
