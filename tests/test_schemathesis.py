"""Schemathesis against the WSGI app, in process, with a Bearer token: positive and negative cases
for every operation of /api/openapi.json. No server errors, no answer outside the document, and
every refusal a 4xx in the error shape. Providers are the fake one on 127.0.0.1.

Known server bugs are listed in KNOWN_BUGS: the fuzz tolerates exactly those failures, and each has
a strict xfail test at the end with the request that shows it, so fixing one turns the suite red
until its entry is removed."""
import json
import os
import zlib
from dataclasses import dataclass
from typing import Callable

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.failures import AcceptedNegativeData, FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.openapi.checks import UnsupportedMethodResponse

from tests.fake_provider import ANTHROPIC_MODELS
from tests.helpers import PASSWORD, csrf_from, make_user, sign_in, store_secret, token_for
from vault import create_app, providers
from vault.urls import base_url_for
from vault.db import LLMModel, User, database
from vault.errors import BadRequest
from vault.openapi_doc import DOCUMENT

# Fixed, so a red run replays; VAULT_FUZZ_SEED=$RANDOM VAULT_FUZZ_EXAMPLES=200 explores further.
SEED = int(os.environ.get("VAULT_FUZZ_SEED", "20261125"))
ON_POSTGRES = (os.environ.get("TEST_DATABASE_URL") or "").startswith("postgres")
MAX_EXAMPLES = int(os.environ.get("VAULT_FUZZ_EXAMPLES", "25"))  # per operation; coverage cases come on top
CHECK_NAMES = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
               "response_headers_conformance", "response_schema_conformance", "negative_data_rejection",
               "missing_required_header", "unsupported_method", "ignored_auth"]
# Not positive_data_acceptance: names and model ids must be "printable" (str.isprintable), which a
# JSON Schema pattern cannot say without \p{…} classes, so schema-valid names may still get a 400.
# 502 and 504 are the gateway reporting its provider (the fake plays 500s and garbage on purpose).

# The document as data (test_openapi.py proves /api/openapi.json serves exactly this); each case is
# sent to the test's app in process. schemathesis.pytest.from_fixture would load it from the app, but
# its lazy loader sets Node._nodeid, which pytest 9.2 no longer has.
def load(**generation):
    config = schemathesis.Config.from_dict({
        "seed": SEED,
        "generation": {"max-examples": MAX_EXAMPLES, "mode": "all", "database": "none", **generation},
        "checks": {"not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "502", "504"]},
                   "negative_data_rejection": {"expected-statuses": [  # schemathesis' list, and 413
                       "400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]}}})
    return schemathesis.openapi.from_dict(json.loads(json.dumps(DOCUMENT)), config=config)


schema = load()
# The session cookie and CSRF header come from a real sign-in, so none are generated (or left out
# on purpose); ignored_auth cannot tell cookies sent this way from generated ones, so it runs with
# the Bearer token only (where /api/tokens must answer 403, and 401 without it).
session_schema = load(**{"with-security-parameters": False}).include(path_regex="^/api/tokens")
# One app per operation, not per case: what earlier cases stored is part of what later ones meet.
# too_slow: how fast cases are generated says nothing about the app, and a busy machine trips it.
ONE_APP_PER_OPERATION = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


# --- the app under test ---------------------------------------------------------------------

def provider_overrides(fake):
    """Every provider with a default base URL points at the fake, so no check or chat leaves the host."""
    bases = {"openai": fake.openai_base, "anthropic": fake.anthropic_base}
    return ",".join(f"{p.id}={bases[p.wire]}" for p in providers.PROVIDERS.values() if p.base_url)


@pytest.fixture
def fuzzed_app(app_config, fake_provider):
    app = create_app({**app_config, "VAULT_UPSTREAM_TIMEOUT": 2.0,
                      "VAULT_PROVIDER_BASE_URLS": provider_overrides(fake_provider)})
    make_user(app, "ada@example.com")
    store_secret(app, "ada@example.com", "openai", "sk-test-fuzz-openai-0000")
    store_secret(app, "ada@example.com", "anthropic", "sk-ant-test-fuzz-1111")
    return app


@pytest.fixture
def targets(fuzzed_app):
    """Real model ids for generated references to land on, by operation. The upstream model names
    are fake-provider scenarios: an echo, tool calls, a 500, a 429, a body that is not JSON."""
    chat = {"echo": ("openai", "echo"), "tools": ("openai", "tools"),
            "claude": ("anthropic", ANTHROPIC_MODELS[0]), "fails": ("openai", "fail-500"),
            "limited": ("openai", "fail-429"), "garbage": ("openai", "garbage"),
            "keyless": ("mistral", "mistral-small-latest")}  # no mistral secret: missing_api_key
    with fuzzed_app.app_context(), database.connection_context():
        ada = User.get(User.email == "ada@example.com")

        def model(name, provider, upstream, user=ada):
            return LLMModel.create(user=user, name=name, provider=provider, model_id=upstream,
                                   base_url=base_url_for(provider),
                                   auth_type=providers.PROVIDERS[provider].auth_type).id
        chat_ids = [model(name, *spec) for name, spec in chat.items()]
        scratch = [model(f"scratch-{n}", "openai", "echo") for n in range(3)]  # PATCH and DELETE these
        shared = model("catalog-echo", "openai", "echo", user=None)            # read-only: 403
    return {"POST /api/chat": chat_ids, "POST /v1/chat/completions": chat_ids,
            "GET /api/models/{model_uuid}": chat_ids + [shared],
            "POST /api/models/{model_uuid}/test": chat_ids + [shared],
            "PATCH /api/models/{model_uuid}": scratch + [shared],
            "DELETE /api/models/{model_uuid}": scratch + [shared]}


@pytest.fixture
def bearer(fuzzed_app):
    return {"Authorization": f"Bearer {token_for(fuzzed_app, 'ada@example.com')}"}


@pytest.fixture
def session(fuzzed_app):
    """ada's session cookie and CSRF header, as a browser sends them: ({header: …}, {cookie: …}).
    She has one token already (id 1, the id generated first), for the list and revoke to find."""
    token_for(fuzzed_app, "ada@example.com")
    client = sign_in(fuzzed_app.test_client(), "ada@example.com")
    csrf = csrf_from(client.get("/tokens"))  # first: the page may rewrite the cookie it signs
    return {"X-CSRFToken": csrf}, {"session": client.get_cookie("session").value}


# --- known server bugs: reported, tolerated by the fuzz only in exactly this form -------------

@dataclass(frozen=True)
class KnownBug:
    reason: str                       # route, input, what happens, where the fix belongs
    failure: type                     # the schemathesis failure it causes
    matches: Callable                 # (case, failure) -> bool: this input, this failure


def body_of(case):
    return case.body if isinstance(case.body, dict) else {}


KNOWN_BUGS = {}  # name: KnownBug(reason, failure class, matcher) — empty: every bug found is fixed


# --- not bugs: what the document states, or a path two routes share -------------------------

TRIMMED = ("provider", "api_key", "name", "model_id", "base_url", "expires_at")  # the server strips these


def accepted_once_trimmed(case, failure):
    """A body refused by the document only for whitespace around a field the server trims (the
    document says so) is rightly accepted: ' openai', or 101 characters with a trailing space."""
    if not isinstance(failure, AcceptedNegativeData) or not isinstance(case.body, dict) or case.meta is None:
        return False
    if any(case.meta.is_negative_at(where) for where in ParameterLocation if where != ParameterLocation.BODY):
        return False
    body = {k: v.strip() if k in TRIMMED and isinstance(v, str) else v for k, v in case.body.items()}
    schema = DOCUMENT["paths"][case.operation.path][case.method.lower()]["requestBody"]["content"]
    return jsonschema_rs.Draft202012Validator(
        {**schema["application/json"]["schema"], "components": DOCUMENT["components"]}).is_valid(body)


def models_test_is_also_a_model_path(case, failure):
    """GET/PATCH/DELETE /api/models/test answer 404 "No such model", not 405: the path also matches
    /api/models/<model_uuid>, and "test" is no model's id."""
    return isinstance(failure, UnsupportedMethodResponse) and case.path == "/api/models/test" \
        and failure.status_code == 404


def known(case, failure):
    return accepted_once_trimmed(case, failure) or models_test_is_also_a_model_path(case, failure) or any(
        isinstance(failure, bug.failure) and bug.matches(case, failure) for bug in KNOWN_BUGS.values())


# --- the fuzz ---------------------------------------------------------------------------------

def aim(case, targets):
    """Random UUIDs and model names only ever meet the 404 path; two positive cases in three are
    pointed at a real model instead (chosen from the generated case, so a failing one replays the
    same). Negative ones stay as generated: they must be refused as they are."""
    candidates = targets.get(case.operation.label)
    field = {"/api/chat": "model_id", "/v1/chat/completions": "model"}.get(case.path)
    holder = body_of(case) if field else (case.path_parameters or {})
    current = holder.get(field or "model_uuid")
    location = ParameterLocation.BODY if field else ParameterLocation.PATH
    negative = case.meta is not None and case.meta.is_negative_at(location)
    if not candidates or not isinstance(current, str) or negative:
        return
    # Hypothesis repeats the simplest model_id ("0") while it varies other fields: hash them all.
    seen = json.dumps([case.body, case.path_parameters], sort_keys=True, default=str)
    pick = zlib.crc32(seen.encode("utf-8", "surrogatepass")) % (len(candidates) * 3 // 2 + 1)
    if pick < len(candidates):
        holder[field or "model_uuid"] = candidates[pick]


def send(case, app, headers, cookies=None, checks=CHECK_NAMES):
    # In process: the case and the checks' own probes (ignored_auth resends it without credentials)
    # go to this test's WSGI app. Cookies go as cookies: Werkzeug's client drops a Cookie header.
    case.operation.schema.app = case.operation.app = app
    load_all_checks()
    try:
        case.call_and_validate(headers=headers, cookies=cookies, checks=CHECKS.get_by_names(checks))
    except FailureGroup as group:
        if not all(known(case, failure) for failure in group.exceptions):
            raise
    except BadRequest as exc:  # raised out of a stream that had begun: no answer to check
        if not known(case, exc):
            raise


@schema.parametrize()
@ONE_APP_PER_OPERATION
def test_api_with_a_bearer_token(case, fuzzed_app, bearer, targets):
    aim(case, targets)
    send(case, fuzzed_app, bearer)


def with_password(case):
    """Creating a token takes ada's password, which no generator guesses: a generated one (a
    non-empty string, so not what makes a case negative) becomes hers. Cases without one, or with
    one of the wrong type, stay as generated and must be refused; wrong passwords have their own
    tests (test_token_scopes.py), and here would only use up the sign-in limit."""
    password = body_of(case).get("password")
    if case.operation.label == "POST /api/tokens" and isinstance(password, str) and password:
        case.body["password"] = PASSWORD


@session_schema.parametrize()
@ONE_APP_PER_OPERATION
def test_tokens_api_with_the_session(case, fuzzed_app, session):
    with_password(case)
    send(case, fuzzed_app, *session, checks=[name for name in CHECK_NAMES if name != "ignored_auth"])


# --- each known bug, as the request that shows it ----------------------------------------------

MESSAGE = [{"role": "user", "content": "hello"}]
REQUESTS = {  # name: (method, path, JSON body or None, with the Bearer token)
    "non_ascii_model_key": ("POST", "/api/models", {"name": "k", "provider": "openai", "model_id": "echo",
                                                    "api_key": "ключ-1234567890"}, True),
    "falsy_stream_options": ("POST", "/v1/chat/completions", {"model": "echo", "messages": MESSAGE,
                                                              "stream_options": False}, True),
}


@pytest.mark.parametrize("name", list(REQUESTS))
def test_once_accepted_input_is_refused(name, fuzzed_app, bearer, targets):
    method, path, body, with_token = REQUESTS[name]
    client = fuzzed_app.test_client()
    response = client.open(path, method=method, json=body, headers=bearer if with_token else {})
    assert response.status_code < 500, response.get_data(as_text=True)
    assert response.status_code in (400, 401, 404), response.get_data(as_text=True)
    assert set(response.json["error"]) >= {"code", "message"}


def test_a_stream_that_cannot_start_is_refused_or_ends_in_an_error(fuzzed_app, bearer, targets):
    messages = [{"role": "assistant", "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "x"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "42"}]
    response = fuzzed_app.test_client().post("/api/chat", headers=bearer, buffered=True, json={
        "model_id": "claude", "stream": True, "messages": messages})
    if response.status_code == 200:
        last = response.get_data(as_text=True).strip().split("\n")[-1]
        assert json.loads(last.removeprefix("data: "))["type"] == "error"
    else:
        assert response.status_code == 400 and response.json["error"]["code"]


def test_token_ids_past_int64_are_not_found(fuzzed_app, session):
    headers, cookies = session
    client = fuzzed_app.test_client()
    client.set_cookie("session", cookies["session"])
    assert client.get("/api/tokens").status_code == 200  # signed in
    response = client.delete("/api/tokens/9223372036854775808", headers=headers)
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"
