"""Isolation sweep: bob tries every route that names one of ada's things — her model ids, token
id, session handle and provider names — through his session and through his token: always 404,
no upstream request, nothing changed. A test also fails when a route appears that the sweep
does not know about."""
import pytest

from tests.helpers import PASSWORD, every_rule
from tests.sweep import HX, MODEL_KEY, SECRET, TEAM_KEY, build_world, snapshot


@pytest.fixture
def world(app_config, fake_provider):
    return build_world(app_config, fake_provider)


def ada_things(w):
    """(method, path, body) for every route that takes an id or a provider name of ada's."""
    m, r, t = w.model, w.relying, w.token_id
    model_routes = [("GET", f"/api/models/{m}", None), ("PATCH", f"/api/models/{m}", {"name": "bob's"}),
                    ("PATCH", f"/api/models/{m}", {"api_key": None}), ("DELETE", f"/api/models/{m}", None),
                    ("POST", f"/api/models/{m}/test", None), ("POST", f"/api/models/{r}/test", None),
                    ("GET", f"/models/{m}", None), ("GET", f"/models/{m}/edit", None),
                    ("POST", f"/models/{m}", {}), ("POST", f"/models/{m}/delete", None),
                    ("POST", f"/models/{m}/remove-key", None), ("POST", f"/models/{m}/test", None)]
    # ada has an openai secret, bob has none: a provider name is ada's "id" here
    secret_routes = [("GET", "/api/secrets/openai", None), ("PUT", "/api/secrets/openai", {"api_key": "sk-bob-1234567890"}),
                     ("DELETE", "/api/secrets/openai", None), ("POST", "/api/secrets/openai/check", None),
                     ("GET", "/api/secrets/openai/history", None), ("GET", "/secrets/openai/rotate", None),
                     ("POST", "/secrets/openai/rotate", {"api_key": "sk-bob-1234567890"}),
                     ("DELETE", "/secrets/openai", None), ("POST", "/secrets/openai/check", None),
                     ("GET", "/secrets/openai/history", None), ("GET", "/secrets/openai/hosts", None),
                     ("POST", "/secrets/openai/hosts", {"allowed_hosts": "evil.example", "password": PASSWORD})]
    chat = [("POST", "/api/chat", {"model_id": m, "messages": [{"role": "user", "content": "hi"}]}),
            ("POST", "/api/chat", {"model_id": r, "stream": True, "messages": [{"role": "user", "content": "hi"}]}),
            ("POST", "/v1/chat/completions", {"model": m, "messages": [{"role": "user", "content": "hi"}]}),
            ("POST", "/v1/chat/completions", {"model": "ada-relying", "messages": [{"role": "user", "content": "hi"}]}),
            ("GET", f"/v1/models/{m}", None), ("GET", "/v1/models/ada-private", None),
            ("POST", "/v1/embeddings", {"model": m, "input": "hi"}),
            ("POST", "/v1/embeddings", {"model": "ada-private", "input": ["hi"]}),
            ("POST", "/v1/messages", {"model": m, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
            ("POST", "/v1/messages", {"model": "ada-relying", "max_tokens": 5, "stream": True,
                                      "messages": [{"role": "user", "content": "hi"}]}),
            ("POST", "/v1/responses", {"model": m, "input": "hi"}),
            ("POST", "/v1/responses", {"model": "ada-relying", "input": "hi", "stream": True})]
    tokens = [("DELETE", f"/api/tokens/{t}", None), ("POST", f"/tokens/{t}/revoke", None)]
    return model_routes + secret_routes + chat + tokens + team_things(w)


def team_things(w):
    """ada's team, its secret and model: bob is no member, so every one is a 404, as a team that
    does not exist would be."""
    tm, ada_id = w.team_model, w.ada_id
    chat = [("POST", "/api/chat", {"model_id": "ada-team-gpt", "messages": [{"role": "user", "content": "hi"}]}),
            ("POST", "/v1/chat/completions", {"model": tm, "messages": [{"role": "user", "content": "hi"}]}),
            ("GET", f"/api/models/{tm}", None), ("PATCH", f"/api/models/{tm}", {"name": "bob's"}),
            ("DELETE", f"/api/models/{tm}", None), ("POST", f"/api/models/{tm}/test", None),
            ("POST", "/api/models", {"name": "x", "provider": "openai", "model_id": "m", "team_id": w.team})]
    routes = []
    for team in (w.team, w.team + 1000):
        base = f"/api/teams/{team}"
        routes += [("GET", base, None), ("DELETE", base, None), ("GET", f"{base}/history", None),
                   ("POST", f"{base}/members", {"email": "bob@example.com", "role": "owner"}),
                   ("PATCH", f"{base}/members/{ada_id}", {"role": "member"}),
                   ("DELETE", f"{base}/members/{ada_id}", None), ("DELETE", f"{base}/invitations/1", None),
                   ("GET", f"{base}/secrets", None),
                   ("POST", f"{base}/secrets", {"provider": "anthropic", "api_key": "sk-bob-1234567890"}),
                   ("GET", f"{base}/secrets/openai", None),
                   ("PUT", f"{base}/secrets/openai", {"api_key": "sk-bob-1234567890"}),
                   ("DELETE", f"{base}/secrets/openai", None), ("POST", f"{base}/secrets/openai/check", None)]
        routes += team_pages(team, tm, ada_id)
    return chat + routes


def team_pages(team, team_model, ada_id):
    """The team's page and its fragments, the secret rows' included."""
    base, secret = f"/teams/{team}", f"/teams/{team}/secrets/openai"
    return [("GET", base, None), ("DELETE", base, None), ("GET", f"{base}/history", None),
            ("POST", f"{base}/members", {"email": "bob@example.com", "role": "owner"}),
            ("POST", f"{base}/members/{ada_id}/role", {"role": "member"}),
            ("DELETE", f"{base}/members/{ada_id}", None), ("DELETE", f"{base}/invitations/1", None),
            ("POST", f"{base}/models", {"name": "bob's", "provider": "openai", "model_id": "echo"}),
            ("DELETE", f"{base}/models/{team_model}", None),
            ("GET", secret, None), ("GET", f"{base}/secrets/groq/new", None),
            ("POST", f"{base}/secrets/groq", {"api_key": "gsk_bob_key_1234567890"}),
            ("GET", f"{secret}/rotate", None), ("POST", f"{secret}/rotate", {"api_key": "sk-bob-1234567890"}),
            ("DELETE", secret, None), ("POST", f"{secret}/check", None), ("GET", f"{secret}/history", None),
            ("GET", f"{secret}/hosts", None),
            ("POST", f"{secret}/hosts", {"allowed_hosts": "evil.example", "password": PASSWORD})]


def send(client, method, path, body):
    if path.startswith(("/api/", "/v1/")):
        return client.open(path, method=method, json=body)
    return client.open(path, method=method, data=body or {}, headers=HX)


def test_every_route_with_adas_ids_is_404_for_bob(world, fake_provider):
    before = snapshot(world.app)
    bob_bearer = world.bearer(world.bob_token)
    for method, path, body in ada_things(world):
        for who, client in (("session", world.bob), ("token", bob_bearer)):
            if path.startswith("/v1/") and who == "session":
                continue  # /v1 takes tokens only (a cookie alone is 401, tested elsewhere)
            if path.startswith(("/api/tokens", "/tokens")) and who == "token":
                continue  # tokens are managed from a session (403 session_required)
            answer = send(client, method, path, body)
            assert answer.status_code == 404, (who, method, path, answer.status_code)
            text = answer.get_data(as_text=True)
            assert SECRET not in text and MODEL_KEY not in text and "ada-private" not in text
            assert TEAM_KEY not in text and "ada-team" not in text
    assert fake_provider.calls == [], "an isolation failure reached the provider"
    assert snapshot(world.app) == before


def test_bob_never_sees_adas_things_in_his_lists(world):
    bob_bearer = world.bearer(world.bob_token)
    for client, path in ((world.bob, "/api/models"), (world.bob, "/api/secrets"), (world.bob, "/api/tokens"),
                         (world.bob, "/api/usage"), (world.bob, "/models"), (world.bob, "/secrets"),
                         (world.bob, "/tokens"), (world.bob, "/chat"), (world.bob, "/account"),
                         (bob_bearer, "/v1/models"), (bob_bearer, "/api/models"), (world.bob, "/api/providers"),
                         (world.bob, "/api/teams"), (bob_bearer, "/api/teams"), (world.bob, "/teams")):
        text = client.get(path).get_data(as_text=True)
        for theirs in ("ada-private", "ada-relying", world.model, "ada-cli", "ada@example.com", "…0000",
                       "ada-team", world.team_model, "…5555"):
            assert theirs not in text, (path, theirs)
    providers = {p["id"]: p["has_secret"] for p in world.bob.get("/api/providers").json["providers"]}
    assert providers["openai"] is False


def test_bob_is_refused_on_adas_sessions(world):
    from vault.auth import account
    from vault.db import Session, User, database
    with world.app.app_context(), database.connection_context():
        ada_session = Session.select().join(User).where(User.email == "ada@example.com").first()
        handle = account.handle(ada_session.id)
    before = snapshot(world.app)
    assert world.bob.post(f"/account/sessions/{handle}/end", headers=HX).status_code == 404
    assert snapshot(world.app) == before
    assert world.ada.get("/api/models").status_code == 200


def test_the_sweep_knows_every_route(world):
    """A new route with an id in its path must be added to ada_things (or here, with a reason)."""
    covered = {(method, _rule_of(path)) for method, path, _ in ada_things(world)}
    covered |= {("POST", "/account/sessions/<handle_>/end"),
                # bob's own row, add form and create for a provider name: his, not ada's
                ("GET", "/secrets/<provider>"), ("GET", "/secrets/<provider>/new"), ("POST", "/secrets/<provider>")}
    for rule in every_rule(world.app):
        if "<" not in rule.rule or rule.endpoint == "static":
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (method, rule.rule) in covered, f"{method} {rule.rule} is not in the isolation sweep"


def _rule_of(path):
    import re
    if path.startswith("/v1/models/"):
        return "/v1/models/<path:name>"
    path = re.sub(r"/[0-9a-f]{8}-[0-9a-f-]{27}", "/<model_uuid>", path)
    path = re.sub(r"/api/secrets/openai", "/api/secrets/<provider>", path)
    path = re.sub(r"^/secrets/openai", "/secrets/<provider>", path)
    path = re.sub(r"/api/tokens/\d+", "/api/tokens/<int:token_id>", path)
    path = re.sub(r"^/api/teams/\d+", "/api/teams/<int:team_id>", path)
    path = re.sub(r"/members/\d+", "/members/<int:user_id>", path)
    path = re.sub(r"/invitations/\d+", "/invitations/<int:invitation_id>", path)
    path = re.sub(r"^/teams/\d+", "/teams/<int:team_id>", path)
    path = re.sub(r"/teams/<int:team_id>/secrets/(openai|groq)", "/teams/<int:team_id>/secrets/<provider>", path)
    return re.sub(r"^/tokens/\d+", "/tokens/<int:token_id>", path)
