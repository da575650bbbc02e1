"""Scoped API tokens (README, API tokens): a token reaches only the routes of its scopes and the
models it names, a stolen session cannot mint one, and tokens from before scopes keep both."""
import re

import jsonschema_rs
import pytest
from playhouse.migrate import SchemaMigrator, migrate as run_migration

from tests.helpers import NEW_COLUMNS, PASSWORD, every_rule, make_user, sign_in, store_secret
from tests.sweep import snapshot
from vault import create_app, db as vault_db
from vault.auth.bearer import CHAT_ROUTES, NO_SCOPE, SESSION_ONLY
from vault.db import ApiToken, AuditEvent, ProviderSecret, User, VaultMeta, database
from vault.openapi_doc import DOCUMENT
from vault.tokens import service

MESSAGES = [{"role": "user", "content": "hello"}]
HX = {"HX-Request": "true"}


@pytest.fixture
def gateway(app_config, fake_provider):
    app = create_app({**app_config, "VAULT_UPSTREAM_TIMEOUT": 2.0,
                      "VAULT_PROVIDER_BASE_URLS": f"openai={fake_provider.openai_base}"})
    make_user(app, "ada@example.com")
    store_secret(app, "ada@example.com", "openai", "sk-scopes-test-0000")
    return app


@pytest.fixture
def ada(gateway):
    return sign_in(gateway.test_client(), "ada@example.com")


@pytest.fixture
def models(ada):
    """ada's two models, name: id."""
    ids = {}
    for name in ("alpha", "beta"):
        answer = ada.post("/api/models", json={"name": name, "provider": "openai", "model_id": "echo"})
        assert answer.status_code == 201, answer.json
        ids[name] = answer.json["model"]["id"]
    return ids


def scoped_token(app, scopes, models=None, email="ada@example.com"):
    with app.app_context(), database.connection_context():
        return service.issue(User.get(User.email == email), "scoped", scopes=scopes, models=models)[1]


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def example_path(rule, model_id):
    """A real path for a URL rule: ada's openai secret, one of her models, her first token."""
    return (rule.replace("<provider>", "openai").replace("<model_uuid>", model_id)
            .replace("<int:token_id>", "1").replace("<handle_>", "x").replace("<int:team_id>", "1")
            .replace("<int:user_id>", "1").replace("<int:invitation_id>", "1"))


def routes(app):
    """(method, rule) of every route a scope decides, HEAD and OPTIONS left to Werkzeug."""
    return {(method, rule.rule) for rule in every_rule(app)
            if rule.rule not in NO_SCOPE and not rule.rule.startswith(SESSION_ONLY)
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def is_chat(method, rule):
    return rule.startswith("/v1/") or (method, rule) in CHAT_ROUTES


# --- scopes -----------------------------------------------------------------------------------

def test_a_chat_only_token_is_refused_on_every_manage_route_and_page(gateway, models, fake_provider):
    token = bearer(scoped_token(gateway, ["chat"]))
    client = gateway.test_client()
    manage = sorted(r for r in routes(gateway) if not is_chat(*r))
    assert ("POST", "/api/secrets") in manage and ("GET", "/secrets") in manage  # the map was read
    before = snapshot(gateway)
    for method, rule in manage:
        path = example_path(rule, models["alpha"])
        answer = client.open(path, method=method, json={}, headers=token)
        assert answer.status_code == 403, (method, rule, answer.status_code)
        if rule.startswith("/api/"):
            assert answer.json["error"]["code"] == "insufficient_scope", (method, rule)
            assert answer.json["error"]["message"] == (f"This token has the chat scope; {method} {path} "
                                                       "needs manage.")
        else:
            assert "needs manage" in answer.get_data(as_text=True), (method, rule)
    assert fake_provider.calls == [] and snapshot(gateway) == before


def test_every_chat_route_takes_a_chat_only_token(gateway, models):
    token = bearer(scoped_token(gateway, ["chat"]))
    client = gateway.test_client()
    requests = {("GET", "/api/models"): None, ("GET", "/api/providers"): None, ("GET", "/api/usage"): None,
                ("GET", "/v1/models"): None, ("GET", "/v1/models/<path:name>"): None,
                ("POST", "/api/chat"): {"model_id": "alpha", "messages": MESSAGES},
                ("POST", "/v1/chat/completions"): {"model": "alpha", "messages": MESSAGES},
                ("POST", "/v1/embeddings"): {"model": "alpha", "input": "hi"},
                ("POST", "/v1/messages"): {"model": "alpha", "max_tokens": 5, "messages": MESSAGES},
                ("POST", "/v1/responses"): {"model": "alpha", "input": "hi"},
                ("GET", "/api/teams"): None, ("GET", "/api/teams/<int:team_id>"): None,
                ("GET", "/api/teams/<int:team_id>/secrets"): None}
    assert {r for r in routes(gateway) if is_chat(*r)} == set(requests)  # a new chat route is tried here
    team = client.post("/api/teams", json={"name": "t"}, headers=bearer(scoped_token(gateway, ["manage"])))
    for (method, path), body in requests.items():
        path = path.replace("<path:name>", "alpha").replace("<int:team_id>", str(team.json["team"]["id"]))
        answer = client.open(path, method=method, json=body, headers=token)
        assert answer.status_code == 200, (method, path, answer.get_data(as_text=True))


def test_a_manage_token_reaches_the_pages_but_never_the_tokens_or_account(gateway, models):
    token = bearer(scoped_token(gateway, ["manage"]))
    client = gateway.test_client()
    assert client.get("/secrets", headers=token).status_code == 200
    assert client.get("/api/secrets", headers=token).status_code == 200
    assert client.post("/api/chat", json={"model_id": "alpha", "messages": MESSAGES}, headers=token).status_code == 200
    for path in ("/api/tokens", "/tokens", "/account"):
        refused = client.get(path, headers=token)
        assert refused.status_code == 403 and "signed-in browser session" in refused.get_data(as_text=True), path


def test_the_public_document_and_unknown_routes_need_no_scope(gateway):
    token = bearer(scoped_token(gateway, ["chat"]))
    client = gateway.test_client()
    assert client.get("/api/openapi.json", headers=token).status_code == 200
    assert client.get("/api/no-such-thing", headers=token).status_code == 404
    assert client.get("/v1/chat/completions", headers=token).status_code == 405


# --- models -----------------------------------------------------------------------------------

CHAT_PATHS = [("/api/chat", "model_id"), ("/v1/chat/completions", "model")]


@pytest.mark.parametrize("path, field", CHAT_PATHS)
def test_a_token_for_model_a_cannot_chat_with_model_b_by_name_or_id(gateway, models, fake_provider, path, field):
    token = bearer(scoped_token(gateway, ["chat"], ["alpha"]))
    client = gateway.test_client()
    for ref in ("beta", models["beta"]):
        for stream in (False, True):
            refused = client.post(path, json={field: ref, "messages": MESSAGES, "stream": stream}, headers=token)
            assert refused.status_code == 403, (ref, refused.get_data(as_text=True))
            assert refused.json["error"]["code"] == "model_not_allowed"
            assert "'beta'" in refused.json["error"]["message"]  # named, even when asked for by id
    assert fake_provider.calls == []
    with gateway.app_context(), database.connection_context():  # refused before the key was opened
        assert all(s.last_used_at is None for s in ProviderSecret.select())
    for ref in ("alpha", models["alpha"]):
        assert client.post(path, json={field: ref, "messages": MESSAGES}, headers=token).status_code == 200


def test_v1_models_lists_only_the_models_the_token_may_use(gateway, models):
    client = gateway.test_client()
    limited = client.get("/v1/models", headers=bearer(scoped_token(gateway, ["chat"], ["alpha"])))
    assert [m["id"] for m in limited.json["data"]] == ["alpha"]
    every = client.get("/v1/models", headers=bearer(scoped_token(gateway, ["chat"])))
    assert {"alpha", "beta"} <= {m["id"] for m in every.json["data"]}
    none = client.get("/v1/models", headers=bearer(scoped_token(gateway, ["manage"], [])))
    assert none.json["data"] == []


# --- creating a token -------------------------------------------------------------------------

def test_the_api_creates_a_scoped_token_and_shows_its_scopes_and_models(gateway, ada, models):
    created = ada.post("/api/tokens", json={"name": "ci", "scopes": ["manage", "chat", "chat"],
                                            "models": ["alpha"], "password": PASSWORD})
    assert created.status_code == 201
    assert created.json["scopes"] == ["chat", "manage"] and created.json["models"] == ["alpha"]
    default = ada.post("/api/tokens", json={"name": "plain", "password": PASSWORD}).json
    assert default["scopes"] == ["chat"] and default["models"] is None
    listed = {t["name"]: t for t in ada.get("/api/tokens").json["tokens"]}
    assert listed["ci"]["models"] == ["alpha"] and listed["plain"]["scopes"] == ["chat"]
    for name, shown in (("NewToken", created.json), ("NewToken", default), ("Token", listed["ci"]),
                        ("Token", listed["plain"])):
        jsonschema_rs.Draft202012Validator({"$ref": f"#/components/schemas/{name}",
                                            "components": DOCUMENT["components"]}).validate(shown)


def test_a_stolen_session_cannot_mint_a_token(gateway, ada, db):
    """Cookie and CSRF header, as a thief of the browser session has them, but no password."""
    for body in ({"name": "mine"}, {"name": "mine", "password": ""}, {"name": "mine", "password": None},
                 {"name": "mine", "password": "guess-1234567"}):
        refused = ada.post("/api/tokens", json=body)
        assert refused.status_code == 403 and refused.json["error"]["code"] == "reauthentication_required", body
    page = ada.post("/tokens", data={"name": "mine", "scopes": "chat", "password": "guess-1234567"}, headers=HX)
    assert page.status_code == 422 and "The password is wrong." in page.get_data(as_text=True)
    assert ada.get("/api/tokens").json["tokens"] == []
    with db():
        refusals = AuditEvent.select().where(AuditEvent.action == "token.create", AuditEvent.outcome == "refused")
        assert refusals.count() == 2  # the two wrong passwords; a missing one was never checked


@pytest.mark.parametrize("path, body, refused_status", [
    ("/api/tokens", {"json": {"name": "t", "password": "wrong-password"}}, 403),
    ("/tokens", {"data": {"name": "t", "scopes": "chat", "password": "wrong-password"}, "headers": HX}, 422)])
def test_wrong_token_passwords_count_against_the_sign_in_limit(gateway, ada, path, body, refused_status):
    right = {"json": {"name": "t", "password": PASSWORD}} if path == "/api/tokens" else \
        {"data": {"name": "t", "scopes": "chat", "password": PASSWORD}, "headers": HX}
    for _ in range(3):  # the right password uses none of the allowance
        assert ada.post(path, **right).status_code == 201
    for _ in range(5):  # RATELIMIT_LOGIN: 5 per minute
        assert ada.post(path, **body).status_code == refused_status
    assert ada.post(path, **right).status_code == 429  # even the right one, now


@pytest.mark.parametrize("extra, field", [
    ({"scopes": ["admin"]}, "scopes"), ({"scopes": []}, "scopes"), ({"scopes": "chat"}, "scopes"),
    ({"scopes": None}, "scopes"), ({"scopes": [["chat"]]}, "scopes"), ({"scopes": [{"a": 1}]}, "scopes"),
    ({"models": "alpha"}, "models"), ({"models": [1]}, "models"), ({"models": {"alpha": True}}, "models"),
    ({"models": ["alpha"] * 51}, "models"), ({"models": ["x" * 101]}, "models"),
    ({"models": ["alpha", "nope", "gone"]}, "models"), ({"models": ["a\x00b"]}, "models")])
def test_bad_scopes_and_models_are_refused_naming_the_field(gateway, ada, models, extra, field):
    answer = ada.post("/api/tokens", json={"name": "t", "password": PASSWORD, **extra})
    assert answer.status_code == 400, answer.json
    assert f"'{field}'" in answer.json["error"]["message"]
    assert ada.get("/api/tokens").json["tokens"] == []


def test_an_unknown_model_is_named_and_another_users_model_is_unknown(gateway, ada, models):
    make_user(gateway, "bob@example.com")
    bob = sign_in(gateway.test_client(), "bob@example.com")
    answer = ada.post("/api/tokens", json={"name": "t", "models": ["alpha", "nope", "gone"], "password": PASSWORD})
    assert answer.json["error"]["code"] == "unknown_model" and "'nope'" in answer.json["error"]["message"]
    theirs = bob.post("/api/tokens", json={"name": "t", "models": ["alpha"], "password": PASSWORD})
    assert theirs.status_code == 400 and "'alpha'" in theirs.json["error"]["message"]


# --- before scopes ------------------------------------------------------------------------------

def test_tokens_made_before_scopes_keep_both_after_the_migration(app, app_config, db):
    make_user(app, "ada@example.com")
    with db():
        row, token = service.issue(User.get(), "old", scopes=["chat"])
        # The database as it was before migration 1: without the columns that migration adds.
        migrator = SchemaMigrator.from_database(database.obj)
        run_migration(*(migrator.drop_column(table, column) for table, column in NEW_COLUMNS))
        VaultMeta.write("schema_version", "0")
    restarted = create_app(app_config)  # migrates at start-up
    with db():
        assert VaultMeta.read("schema_version") == str(len(vault_db.MIGRATIONS))
        migrated = ApiToken.get_by_id(row.id)
        assert service.scopes_of(migrated) == ["chat", "manage"] and service.models_of(migrated) is None
    assert restarted.test_client().get("/api/secrets", headers=bearer(token)).status_code == 200


# --- command line and page --------------------------------------------------------------------

def test_cli_create_token_takes_scopes_and_models(gateway, models, db):
    runner = gateway.test_cli_runner()
    made = runner.invoke(args=["create-token", "ada@example.com", "--scope", "chat", "--scope", "manage",
                               "--model", "alpha", "--model", "beta"])
    assert made.exit_code == 0, made.output
    plain = runner.invoke(args=["create-token", "ada@example.com", "--name", "plain"])
    with db():
        rows = {t.name: t for t in ApiToken.select()}
    assert service.scopes_of(rows["cli"]) == ["chat", "manage"] and service.models_of(rows["cli"]) == ["alpha", "beta"]
    assert service.scopes_of(rows["plain"]) == ["chat"] and service.models_of(rows["plain"]) is None
    client = gateway.test_client()
    assert client.get("/api/secrets", headers=bearer(made.output.strip())).status_code == 200
    assert client.get("/api/secrets", headers=bearer(plain.output.strip())).status_code == 403

    bad = runner.invoke(args=["create-token", "ada@example.com", "--scope", "admin"])
    assert bad.exit_code != 0 and "Invalid value for '--scope'" in bad.output and "'chat'" in bad.output
    unknown = runner.invoke(args=["create-token", "ada@example.com", "--model", "nope"])
    assert unknown.exit_code != 0 and "'nope'" in unknown.output
    usage = runner.invoke(args=["create-token", "--help"]).output
    assert "--scope [chat|manage]" in usage and "--model NAME" in usage and "repeat" in usage
    with db():
        assert ApiToken.select().count() == 2  # the refused ones wrote nothing


def test_the_tokens_page_creates_scoped_tokens_and_shows_their_scopes_and_models(gateway, ada, models):
    page = ada.get("/tokens").get_data(as_text=True)
    form = page[page.index('<form id="token-form"'):page.index("</form>", page.index('<form id="token-form"'))]
    assert '<input checked id="scopes-0" name="scopes" type="checkbox" value="chat">' in form  # the default
    assert '<input id="scopes-1" name="scopes" type="checkbox" value="manage">' in form
    assert '<option value="alpha">alpha</option><option value="beta">beta</option>' in form
    assert 'name="password" required type="password"' in form
    created = ada.post("/tokens", data={"name": "narrow", "scopes": ["chat", "manage"], "models": ["beta"],
                                        "password": PASSWORD}, headers=HX)
    assert created.status_code == 201 and "psv_" in created.get_data(as_text=True)
    wide = ada.post("/tokens", data={"name": "wide", "scopes": "chat", "password": PASSWORD}, headers=HX)
    assert wide.status_code == 201
    rows = ada.get("/tokens", headers=HX).get_data(as_text=True)
    narrow_row = rows[rows.index("narrow"):rows.index("</tr>", rows.index("narrow"))]
    wide_row = rows[rows.index("wide"):rows.index("</tr>", rows.index("wide"))]
    assert ">chat</span>" in narrow_row and ">manage</span>" in narrow_row and "beta" in narrow_row
    assert ">chat</span>" in wide_row and "manage" not in wide_row and "every model" in wide_row
    none = ada.post("/tokens", data={"name": "x", "password": PASSWORD}, headers=HX)
    assert none.status_code == 422 and "Choose at least one scope." in none.get_data(as_text=True)


def test_a_new_token_comes_with_copy_buttons_and_ready_to_paste_snippets(gateway, ada, models):
    created = ada.post("/tokens", data={"name": "narrow", "scopes": "chat", "models": ["beta"],
                                        "password": PASSWORD}, headers=HX).get_data(as_text=True)
    token = re.search(r'value="(psv_[^"]+)"', created).group(1)
    assert 'data-copy="new-token"' in created and created.count("data-copy=") == 4
    assert f'OpenAI(base_url="http://localhost/v1", api_key="{token}")' in created
    assert 'model="beta"' in created  # one the token may use
    assert f"curl http://localhost/v1/chat/completions -H \"Authorization: Bearer {token}\"" in created
    assert f"export OPENAI_BASE_URL=http://localhost/v1 OPENAI_API_KEY={token}" in created
    assert f"ANTHROPIC_BASE_URL=http://localhost ANTHROPIC_API_KEY={token}" in created


@pytest.mark.parametrize("path, body", [
    ("/v1/responses", {"input": "hello"}), ("/v1/responses", {"input": "hello", "stream": True}),
    ("/v1/messages", {"max_tokens": 16, "messages": MESSAGES}),
    ("/v1/messages", {"max_tokens": 16, "messages": MESSAGES, "stream": True}),
    ("/v1/embeddings", {"input": "hello"})])
def test_every_other_wire_keeps_a_token_to_its_models(gateway, models, fake_provider, path, body):
    token = bearer(scoped_token(gateway, ["chat"], ["alpha"]))
    client = gateway.test_client()
    refused = client.post(path, json={"model": "beta", **body}, headers=token)
    assert refused.status_code == 403 and "'beta'" in refused.get_data(as_text=True)
    assert fake_provider.calls == []
    assert client.post(path, json={"model": "alpha", **body}, headers=token).status_code == 200
