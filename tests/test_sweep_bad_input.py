"""Bad-input sweep: every write route gets malformed JSON, wrong types, missing, unknown and
empty fields, NUL bytes and odd Unicode, oversized bodies and ids that are not ids. The answer is
always a 4xx in the error shape (or a harmless success), never a 500, and a refusal writes
nothing. Tests also fail when a write route appears that the sweep does not know."""
import pytest

from tests.helpers import PASSWORD, every_rule
from tests.sweep import HX, build_world, snapshot

CHAT = [{"role": "user", "content": "hi"}]
TOOL = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
BAD_VALUES = [None, 0, -1, 10**20, 1.5, True, [], {}, "", " ", "\x00", "a\x00b", "\u202e\u2066evil",
              "\ud800", "x" * 100_000, ["nested", {"deep": []}], {"$gt": ""}]
ODD_NAMES = ["a\x00b", "\u202eevil", "\ud800", "💥" * 50, "x" * 300, " ", "\n", "<script>", "../../etc"]
FORM_VALUES = [n for n in ODD_NAMES if n != "\ud800"]  # a form post cannot carry a lone surrogate


def json_routes(w):
    """(method, rule, path, a valid body) for every JSON write route."""
    m = w.model
    return [
        ("POST", "/api/secrets", "/api/secrets", {"provider": "groq", "api_key": "gsk_valid_key_123456",
                                                   "expires_at": "2031-01-01T00:00:00Z"}),
        ("PUT", "/api/secrets/<provider>", "/api/secrets/openai",
         {"api_key": "sk-new-valid-key-123456", "expected_version": 1, "expires_at": None}),
        ("DELETE", "/api/secrets/<provider>", "/api/secrets/nope", None),
        ("POST", "/api/secrets/<provider>/check", "/api/secrets/openai/check", None),
        ("POST", "/api/models", "/api/models", {"name": "new", "provider": "openai", "model_id": "echo",
                                                "base_url": "http://127.0.0.1:9/v1", "auth_type": "bearer",
                                                "api_key": "sk-valid-model-key-1", "supports_streaming": True,
                                                "supports_tools": False}),
        ("PATCH", "/api/models/<model_uuid>", f"/api/models/{m}", {"name": "renamed", "model_id": "echo",
                                                                   "api_key": None, "supports_tools": True}),
        ("DELETE", "/api/models/<model_uuid>", "/api/models/not-a-uuid", None),
        ("POST", "/api/models/test", "/api/models/test", {"provider": "openai", "model_id": "echo",
                                                          "base_url": "http://127.0.0.1:9/v1", "auth_type": "bearer",
                                                          "api_key": "sk-valid-model-key-1"}),
        ("POST", "/api/models/<model_uuid>/test", f"/api/models/{m}/test", None),
        ("POST", "/api/tokens", "/api/tokens", {"name": "n", "expires_in_days": 5, "scopes": ["chat"],
                                                "models": ["ada-private"], "password": PASSWORD}),
        ("DELETE", "/api/tokens/<int:token_id>", "/api/tokens/999999", None),
        ("POST", "/api/chat", "/api/chat", {"model_id": m, "messages": CHAT, "stream": False, "temperature": 0.5,
                                            "max_tokens": 10, "tools": TOOL}),
        ("POST", "/v1/chat/completions", "/v1/chat/completions", {"model": "ada-private", "messages": CHAT,
                                                                  "max_tokens": 10, "tools": TOOL}),
        ("POST", "/v1/embeddings", "/v1/embeddings", {"model": "ada-private", "input": ["a", "b"],
                                                      "encoding_format": "float", "dimensions": 3, "user": "u"}),
        ("POST", "/v1/messages", "/v1/messages", {"model": "ada-private", "max_tokens": 10, "system": "s",
                                                  "messages": CHAT, "temperature": 0.5, "stop_sequences": ["x"],
                                                  "metadata": {"user_id": "u"}}),
        ("POST", "/v1/responses", "/v1/responses", {"model": "ada-private", "input": CHAT, "instructions": "i",
                                                    "max_output_tokens": 10, "temperature": 0.5, "store": False,
                                                    "text": {"format": {"type": "text"}}}),
    ] + team_routes(w)


def team_routes(w):
    base, t = "/api/teams/<int:team_id>", f"/api/teams/{w.team}"
    return [
        ("POST", "/api/teams", "/api/teams", {"name": "new-team"}),
        ("DELETE", base, "/api/teams/999999", None),
        ("POST", f"{base}/members", f"{t}/members", {"email": "bob@example.com", "role": "member"}),
        ("PATCH", f"{base}/members/<int:user_id>", f"{t}/members/{w.ada_id}", {"role": "owner"}),
        ("DELETE", f"{base}/members/<int:user_id>", f"{t}/members/999999", None),
        ("DELETE", f"{base}/invitations/<int:invitation_id>", f"{t}/invitations/999999", None),
        ("POST", f"{base}/secrets", f"{t}/secrets", {"provider": "groq", "api_key": "gsk_valid_key_123456",
                                                    "expires_at": "2031-01-01T00:00:00Z"}),
        ("PUT", f"{base}/secrets/<provider>", f"{t}/secrets/openai",
         {"api_key": "sk-new-valid-key-123456", "expected_version": 1, "expires_at": None}),
        ("DELETE", f"{base}/secrets/<provider>", f"{t}/secrets/nope", None),
        ("POST", f"{base}/secrets/<provider>/check", f"{t}/secrets/openai/check", None),
        ("POST", "/api/models", "/api/models", {"name": "team-new", "provider": "openai", "model_id": "echo",
                                                "team_id": w.team}),
    ]


@pytest.fixture
def world(app_config, fake_provider):
    return build_world(app_config, fake_provider)


def client_for(w, path):
    return w.bearer(w.ada_token) if path.startswith("/v1/") else w.ada


def refused_cleanly(w, answer, before, what):
    """A refusal in the error shape that left the database as `before`; returns the database as
    the next request finds it: `before` again after a refusal, so each request costs one
    snapshot, not two (the sweeps take thousands), and a new one after an accepted request."""
    status = answer.status_code
    assert status < 500, f"{what}: {status} {answer.get_data(as_text=True)[:200]}"
    if status < 400:
        return snapshot(w.app)
    assert answer.is_json and set(answer.json["error"]) >= {"code", "message"}, what
    assert snapshot(w.app) == before, f"{what}: refused, yet the database changed"
    return before


def test_json_routes_refuse_malformed_bodies(world):
    before = snapshot(world.app)
    for method, rule, path, _ in json_routes(world):
        client = client_for(world, path)
        for raw in ("{", "[]", "null", '"text"', "42", '{"a": 1,}', "\x00", "\ufeff{}", '{"a": "\\ud800"}'):
            answer = client.open(path, method=method, data=raw, content_type="application/json")
            # a check that ignores its body is accepted and may stamp its result: a new snapshot
            before = refused_cleanly(world, answer, before, f"{method} {path} {raw!r}")
        oversized = client.open(path, method=method, data=b"{" + b" " * (1024 * 1024) + b"}",
                                content_type="application/json")
        assert oversized.status_code == 413 and oversized.json["error"]["code"] == "payload_too_large", path


def test_every_field_with_every_wrong_value(world):
    before = snapshot(world.app)
    for method, rule, path, valid in json_routes(world):
        if not valid:
            continue
        client = client_for(world, path)
        for field in list(valid) + ["unknown_field"]:
            for value in BAD_VALUES:
                body = {**valid, field: value}
                answer = client.open(path, method=method, json=body, buffered=True)
                before = refused_cleanly(world, answer, before, f"{method} {path} {field}={str(value)[:30]!r}")
            missing = {k: v for k, v in valid.items() if k != field}
            before = refused_cleanly(world, client.open(path, method=method, json=missing, buffered=True), before,
                                     f"{method} {path} without {field}")


def test_ids_that_are_not_ids(world):
    before = snapshot(world.app)
    odd = [n for n in ODD_NAMES if n not in ("\ud800", "\n")]  # neither fits in a URL
    for bad in odd + ["not-a-uuid", "00000000-0000-0000-0000-000000000000", "1 OR 1=1", "%00"]:
        for method, path in (("GET", f"/api/models/{bad}"), ("PATCH", f"/api/models/{bad}"),
                             ("DELETE", f"/api/models/{bad}"), ("POST", f"/api/models/{bad}/test"),
                             ("GET", f"/api/secrets/{bad}"), ("PUT", f"/api/secrets/{bad}"),
                             ("DELETE", f"/api/secrets/{bad}"), ("POST", f"/api/secrets/{bad}/check"),
                             ("GET", f"/api/secrets/{bad}/history"), ("GET", f"/models/{bad}"),
                             ("GET", f"/api/teams/{bad}"), ("DELETE", f"/api/teams/{bad}"),
                             ("GET", f"/api/teams/{world.team}/secrets/{bad}"),
                             ("PUT", f"/api/teams/{world.team}/secrets/{bad}"),
                             ("PATCH", f"/api/teams/{world.team}/members/{bad}"),
                             ("POST", f"/models/{bad}/delete"), ("GET", f"/secrets/{bad}"),
                             ("POST", f"/secrets/{bad}"), ("GET", f"/secrets/{bad}/history")):
            answer = world.ada.open(path, method=method, json={"api_key": "sk-x-1234567890"} if method in
                                    ("PUT", "PATCH") else None, headers={} if path.startswith("/api") else HX)
            assert answer.status_code in (400, 404, 405), (method, path, answer.status_code)
    assert snapshot(world.app) == before


FORMS = {  # path: fields a browser would post
    "/models": ["mode", "name", "provider", "model_id", "base_url", "auth_type", "api_key"],
    "/models/test": ["mode", "provider", "model_id", "base_url", "auth_type", "api_key"],
    "/secrets/groq": ["api_key", "expires_at", "allowed_hosts"],
    "/secrets/openai/rotate": ["api_key", "expires_at", "expected_version"],
    "/secrets/openai/hosts": ["allowed_hosts", "password", "expected_version"],
    "/tokens": ["name", "expires_in_days", "scopes", "models", "password"],
    "/account/password": ["current_password", "new_password", "confirm"],
    "/account/delete": ["confirm_email", "confirm_password"],
    "/register": ["email", "password", "confirm"],
}


def team_forms(w):
    """The team page's forms (ada owns w.team), as FORMS has the other pages'."""
    base, secret = f"/teams/{w.team}", f"/teams/{w.team}/secrets"
    return {"/teams": ["name"], f"{base}/members": ["email", "role"],
            f"{base}/members/{w.ada_id}/role": ["role"],
            f"{base}/models": ["name", "provider", "model_id", "base_url", "api_key"],
            f"{secret}/groq": ["api_key", "expires_at", "allowed_hosts"],
            f"{secret}/openai/rotate": ["api_key", "expires_at", "expected_version"],
            f"{secret}/openai/hosts": ["allowed_hosts", "password", "expected_version"]}


def unchanged_unless_accepted(w, answer, before, what):
    """refused_cleanly for a form: its refusals are HTML, not JSON."""
    assert answer.status_code < 500, (*what, answer.status_code)
    if answer.status_code < 400:
        return snapshot(w.app)
    assert snapshot(w.app) == before, what
    return before


def test_forms_refuse_odd_values_without_writing(world):
    before = snapshot(world.app)
    for path, fields in {**FORMS, **team_forms(world)}.items():
        for field in fields:
            for value in FORM_VALUES + ["", "x" * 200_000]:
                data = {f: "" for f in fields}
                data[field] = value
                answer = world.ada.post(path, data=data, headers=HX)
                before = unchanged_unless_accepted(world, answer, before, (path, field, value[:20]))
    edit = f"/models/{world.model}"
    prefix = f"edit-{world.model[:8]}-"
    for value in FORM_VALUES:
        answer = world.ada.post(edit, data={f"{prefix}name": value, f"{prefix}provider": "openai",
                                            f"{prefix}model_id": "x", f"{prefix}mode": "manual"}, headers=HX)
        before = unchanged_unless_accepted(world, answer, before, (edit, value[:20]))


def test_the_sweep_knows_every_write_route(world):
    known = {(method, rule) for method, rule, _, _ in json_routes(world)}
    forms = {"/models", "/models/test", "/secrets/<provider>", "/secrets/<provider>/rotate",
             "/secrets/<provider>/hosts", "/tokens",
             "/account/password", "/account/delete", "/register", "/models/<model_uuid>",
             "/teams", "/teams/<int:team_id>/members", "/teams/<int:team_id>/members/<int:user_id>/role",
             "/teams/<int:team_id>/models", "/teams/<int:team_id>/secrets/<provider>",
             "/teams/<int:team_id>/secrets/<provider>/rotate", "/teams/<int:team_id>/secrets/<provider>/hosts"}
    no_body = {"/logout", "/login", "/models/<model_uuid>/delete", "/models/<model_uuid>/remove-key",
               "/models/<model_uuid>/test", "/secrets/<provider>/check", "/tokens/<int:token_id>/revoke",
               "/account/sessions/end-all", "/account/sessions/end-others", "/account/sessions/<handle_>/end",
               "/secrets/<provider>",  # (DELETE /secrets/<provider> takes no body, nor do the team's below)
               "/teams/<int:team_id>", "/teams/<int:team_id>/members/<int:user_id>",
               "/teams/<int:team_id>/invitations/<int:invitation_id>", "/teams/<int:team_id>/models/<model_uuid>",
               "/teams/<int:team_id>/secrets/<provider>/check"}
    for rule in every_rule(world.app):
        for method in rule.methods & {"POST", "PUT", "PATCH", "DELETE"}:
            if rule.rule.startswith(("/api/", "/v1/")):
                assert (method, rule.rule) in known, f"{method} {rule.rule} is not in the bad-input sweep"
            else:
                assert rule.rule in forms | no_body, f"{method} {rule.rule} is not in the bad-input sweep"
