"""/api/teams: owners share a provider key that members use and never read. Members, roles and
the last owner; team secrets and models; use through /api/chat and /v1 with a member's own
chat-scoped token; removal ending use at the next request; the team's trail; bad input."""
import pytest

from tests.helpers import PASSWORD, make_user, sign_in
from vault import create_app
from vault.db import AuditEvent, Invitation, Membership, TeamSecret, UsageRecord, User, database
from vault.tokens import service as tokens

TEAM_KEY = "sk-team-SENTINEL-7777"
BOB_KEY = "sk-bob-own-key-1111"


@pytest.fixture
def gateway(app_config, fake_provider):
    app = create_app({**app_config, "VAULT_UPSTREAM_TIMEOUT": 1.0, "VAULT_PROVIDER_BASE_URLS":
                      f"openai={fake_provider.openai_base},anthropic={fake_provider.anthropic_base}"})
    for email in ("ada@example.com", "bob@example.com", "eve@example.com"):
        make_user(app, email)
    return app


@pytest.fixture
def ada(gateway):
    return sign_in(gateway.test_client(), "ada@example.com")


@pytest.fixture
def bob(gateway):
    return sign_in(gateway.test_client(), "bob@example.com")


@pytest.fixture
def eve(gateway):
    return sign_in(gateway.test_client(), "eve@example.com")


def user_id(app, email):
    with app.app_context(), database.connection_context():
        return User.get(User.email == email).id


def chat_token(app, email):
    with app.app_context(), database.connection_context():
        return tokens.issue(User.get(User.email == email), "cli", scopes=["chat"])[1]


@pytest.fixture
def acme(gateway, ada, bob):
    """Ada owns acme and its OpenAI key; Bob is a member; acme has a model on that key."""
    team = ada.post("/api/teams", json={"name": "acme"}).json["team"]
    assert ada.post(f"/api/teams/{team['id']}/members", json={"email": "Bob@Example.com"}).status_code == 201
    assert ada.post(f"/api/teams/{team['id']}/secrets",
                    json={"provider": "openai", "api_key": TEAM_KEY}).status_code == 201
    model = ada.post("/api/models", json={"name": "team-gpt", "provider": "openai", "model_id": "echo",
                                          "team_id": team["id"]})
    assert model.status_code == 201, model.json
    return {**team, "model": model.json["model"]}


def chat(client, model="team-gpt", headers=None):
    return client.post("/api/chat", buffered=True, headers=headers or {},
                       json={"model_id": model, "messages": [{"role": "user", "content": "hi"}]})


def v1_chat(client, token, model="team-gpt"):
    return client.post("/v1/chat/completions", headers={"Authorization": f"Bearer {token}"},
                       json={"model": model, "messages": [{"role": "user", "content": "hi"}]})


# --- teams and members ---------------------------------------------------------------------

def test_the_creator_owns_the_team_and_a_member_sees_it_with_their_role(acme, ada, bob):
    assert acme["role"] == "owner" and acme["member_count"] == 1 and acme["name"] == "acme"
    [seen] = bob.get("/api/teams").json["teams"]
    assert seen == {**seen, "id": acme["id"], "role": "member", "member_count": 2}
    team = bob.get(f"/api/teams/{acme['id']}").json["team"]
    assert [(m["email"], m["role"]) for m in team["members"]] == [("ada@example.com", "owner"),
                                                                  ("bob@example.com", "member")]
    assert [m["name"] for m in team["models"]] == ["team-gpt"]
    assert team["models"][0]["key_source"] == "team_secret" and team["models"][0]["team_id"] == acme["id"]


def test_team_names_are_required_printable_and_unique(ada, eve):
    assert ada.post("/api/teams", json={"name": "  "}).json["error"]["code"] == "invalid_request"
    assert ada.post("/api/teams", json={}).status_code == 400
    assert ada.post("/api/teams", json={"name": "a\x00b"}).status_code == 400
    assert ada.post("/api/teams", json={"name": "x" * 101}).json["error"]["code"] == "too_long"
    assert ada.post("/api/teams", json={"name": ["acme"]}).status_code == 400
    assert ada.post("/api/teams", json={"name": "acme", "owner": 1}).json["error"]["code"] == "unknown_field"
    assert ada.post("/api/teams", json={"name": "acme"}).status_code == 201
    taken = eve.post("/api/teams", json={"name": " acme "})
    assert taken.status_code == 409 and taken.json["error"]["code"] == "team_exists"
    assert taken.json["error"]["field"] == "name"
    assert [t["name"] for t in eve.get("/api/teams").json["teams"]] == []


def test_adding_a_member_names_the_field_for_each_mistake(acme, ada):
    url = f"/api/teams/{acme['id']}/members"
    unknown = ada.post(url, json={"email": "nobody@example.com"})
    assert unknown.status_code == 404 and unknown.json["error"]["code"] == "unknown_email"
    assert unknown.json["error"]["field"] == "email"
    again = ada.post(url, json={"email": "bob@example.com"})
    assert again.status_code == 409 and again.json["error"]["code"] == "already_member"
    assert ada.post(url, json={"email": "eve@example.com", "role": "admin"}).json["error"]["field"] == "role"
    assert ada.post(url, json={"email": "not-an-email"}).json["error"]["field"] == "email"
    assert ada.post(url, json={"email": 7}).json["error"]["field"] == "email"
    assert ada.post(url, json={}).status_code == 400
    assert ada.post(url, json={"email": "eve@example.com", "role": "owner"}).json["member"]["role"] == "owner"


def test_under_invite_an_unknown_email_is_invited_and_the_invitation_can_be_cancelled(app_config, fake_provider):
    app = create_app({**app_config, "VAULT_SIGNUP": "invite"})
    make_user(app, "ada@example.com")
    ada = sign_in(app.test_client(), "ada@example.com")
    team = ada.post("/api/teams", json={"name": "acme"}).json["team"]
    answer = ada.post(f"/api/teams/{team['id']}/members", json={"email": "New@Example.com", "role": "owner"})
    assert answer.status_code == 201 and answer.json["invitation"]["email"] == "new@example.com"
    assert ada.post(f"/api/teams/{team['id']}/members", json={"email": "new@example.com"}).status_code == 409
    assert ada.get(f"/api/teams/{team['id']}").json["team"]["invitations"][0]["role"] == "owner"
    invitation = answer.json["invitation"]["id"]
    assert ada.delete(f"/api/teams/{team['id']}/invitations/{invitation}").status_code == 204
    assert ada.delete(f"/api/teams/{team['id']}/invitations/{invitation}").status_code == 404
    with app.app_context(), database.connection_context():
        assert Invitation.select().count() == 0


def test_a_team_keeps_at_least_one_owner(gateway, acme, ada, bob):
    ada_id, bob_id = user_id(gateway, "ada@example.com"), user_id(gateway, "bob@example.com")
    members = f"/api/teams/{acme['id']}/members"
    step_down = ada.patch(f"{members}/{ada_id}", json={"role": "member"})
    assert step_down.status_code == 409 and step_down.json["error"]["code"] == "last_owner"
    assert ada.delete(f"{members}/{ada_id}").json["error"]["code"] == "last_owner"
    assert ada.patch(f"{members}/{bob_id}", json={"role": "owner"}).json["member"]["role"] == "owner"
    assert ada.patch(f"{members}/{ada_id}", json={"role": "member"}).status_code == 200
    assert bob.patch(f"{members}/{bob_id}", json={"role": "member"}).json["error"]["code"] == "last_owner"
    roles = {m["email"]: m["role"] for m in bob.get(f"/api/teams/{acme['id']}").json["team"]["members"]}
    assert roles == {"ada@example.com": "member", "bob@example.com": "owner"}
    assert ada.delete(f"{members}/{ada_id}").status_code == 204  # a member may leave
    assert ada.get(f"/api/teams/{acme['id']}").status_code == 404


def test_a_member_changes_nothing(gateway, acme, bob):
    tid, ada_id = acme["id"], user_id(gateway, "ada@example.com")
    bob_id = user_id(gateway, "bob@example.com")
    writes = [("post", f"/api/teams/{tid}/members", {"email": "eve@example.com"}),
              ("patch", f"/api/teams/{tid}/members/{bob_id}", {"role": "owner"}),
              ("patch", f"/api/teams/{tid}/members/{ada_id}", {"role": "member"}),
              ("delete", f"/api/teams/{tid}/members/{ada_id}", None),
              ("post", f"/api/teams/{tid}/secrets", {"provider": "anthropic", "api_key": "sk-ant-x-123456"}),
              ("put", f"/api/teams/{tid}/secrets/openai", {"api_key": "sk-bob-replacement-0000"}),
              ("delete", f"/api/teams/{tid}/secrets/openai", None),
              ("post", f"/api/teams/{tid}/secrets/openai/check", None),
              ("post", "/api/models", {"name": "mine", "provider": "openai", "model_id": "m", "team_id": tid}),
              ("patch", f"/api/models/{acme['model']['id']}", {"model_id": "other"}),
              ("delete", f"/api/models/{acme['model']['id']}", None),
              ("delete", f"/api/teams/{tid}", None)]
    for method, url, body in writes:
        answer = getattr(bob, method)(url, json=body) if body is not None else getattr(bob, method)(url)
        assert answer.status_code == 403, (method, url, answer.json)
        assert answer.json["error"]["code"] == "not_team_owner"
    team = bob.get(f"/api/teams/{tid}").json["team"]
    assert len(team["members"]) == 2 and team["secrets"][0]["version"] == 1
    assert team["models"][0]["model_id"] == "echo"


def test_someone_outside_the_team_gets_404_for_every_team_route(gateway, acme, eve):
    tid, mid = acme["id"], acme["model"]["id"]
    ada_id = user_id(gateway, "ada@example.com")
    for team_id in (tid, 999999):
        calls = [("get", f"/api/teams/{team_id}", None), ("delete", f"/api/teams/{team_id}", None),
                 ("get", f"/api/teams/{team_id}/history", None),
                 ("post", f"/api/teams/{team_id}/members", {"email": "eve@example.com"}),
                 ("patch", f"/api/teams/{team_id}/members/{ada_id}", {"role": "member"}),
                 ("delete", f"/api/teams/{team_id}/members/{ada_id}", None),
                 ("delete", f"/api/teams/{team_id}/invitations/1", None),
                 ("get", f"/api/teams/{team_id}/secrets", None),
                 ("post", f"/api/teams/{team_id}/secrets", {"provider": "anthropic", "api_key": "sk-ant-x-1234"}),
                 ("get", f"/api/teams/{team_id}/secrets/openai", None),
                 ("put", f"/api/teams/{team_id}/secrets/openai", {"api_key": "sk-eve-0000000"}),
                 ("delete", f"/api/teams/{team_id}/secrets/openai", None),
                 ("post", f"/api/teams/{team_id}/secrets/openai/check", None),
                 ("post", "/api/models", {"name": "x", "provider": "openai", "model_id": "m", "team_id": team_id})]
        answers = []
        for method, url, body in calls:
            answer = getattr(eve, method)(url, json=body) if body is not None else getattr(eve, method)(url)
            answers.append((answer.status_code, answer.json["error"]["message"]))
        assert {status for status, _ in answers} == {404}, list(zip(calls, answers))
        if team_id == tid:
            existing = answers
    assert answers == existing  # a real team and no team at all answer alike
    for url in (f"/api/models/{mid}", f"/api/models/{mid}/test"):
        assert (eve.get(url) if url.endswith(mid) else eve.post(url)).status_code == 404
    assert chat(eve).status_code == 404
    assert [t["id"] for t in eve.get("/api/teams").json["teams"]] == []


# --- team secrets and models ---------------------------------------------------------------

def test_a_member_sees_the_secrets_preview_fingerprint_and_version_but_never_the_key(acme, bob):
    listed = bob.get(f"/api/teams/{acme['id']}/secrets").json["secrets"]
    one = bob.get(f"/api/teams/{acme['id']}/secrets/openai").json["secret"]
    assert listed == [one] and one["key_preview"] == "sk-…7777" and one["version"] == 1
    assert one["fingerprint"] and one["models_using"] == 1 and one["allowed_hosts"]
    everything = [bob.get(url).get_data(as_text=True) for url in (
        "/api/teams", f"/api/teams/{acme['id']}", f"/api/teams/{acme['id']}/secrets",
        f"/api/teams/{acme['id']}/history", "/api/models", f"/api/models/{acme['model']['id']}")]
    assert not any(TEAM_KEY in text or TEAM_KEY[3:] in text for text in everything)


def test_a_member_chats_with_the_teams_key_through_every_route_with_their_own_token(gateway, acme, bob, fake_provider):
    from tests.helpers import store_secret
    store_secret(gateway, "bob@example.com", "openai", BOB_KEY)  # never used for the team's model
    token = chat_token(gateway, "bob@example.com")
    session = chat(bob)
    assert session.status_code == 200, session.json
    assert session.json["key_source"] == "team_secret"
    by_token = v1_chat(gateway.test_client(), token)
    assert by_token.status_code == 200 and by_token.headers["X-Key-Source"] == "team_secret"
    by_id = chat(gateway.test_client(), acme["model"]["id"], {"Authorization": f"Bearer {token}"})
    assert by_id.status_code == 200
    assert fake_provider.keys_seen() == [TEAM_KEY] * 3
    usage = {r["model"]: r for r in bob.get("/api/usage?days=30").json["usage"]}
    assert usage["team-gpt"]["key_source"] == "team_secret" and usage["team-gpt"]["requests"] == 3
    bob_id = user_id(gateway, "bob@example.com")
    with gateway.app_context(), database.connection_context():
        assert UsageRecord.get().user_id == bob_id
        assert TeamSecret.get().last_used_at is not None


def test_removing_a_member_ends_their_use_at_their_next_request(gateway, acme, ada, bob):
    token = chat_token(gateway, "bob@example.com")
    assert v1_chat(gateway.test_client(), token).status_code == 200
    assert ada.delete(f"/api/teams/{acme['id']}/members/{user_id(gateway, 'bob@example.com')}").status_code == 204
    assert v1_chat(gateway.test_client(), token).status_code == 404
    assert chat(bob).status_code == 404
    assert bob.get(f"/api/teams/{acme['id']}").status_code == 404


def test_deleting_the_team_takes_its_secrets_and_models_and_ends_every_members_use(gateway, acme, ada, bob):
    token = chat_token(gateway, "bob@example.com")
    assert ada.delete(f"/api/teams/{acme['id']}").status_code == 204
    assert v1_chat(gateway.test_client(), token).status_code == 404
    assert chat(ada).status_code == 404
    with gateway.app_context(), database.connection_context():
        assert TeamSecret.select().count() == 0 and Membership.select().count() == 0


def test_a_team_model_falls_back_to_no_key_never_to_the_members_own(gateway, acme, ada, bob, fake_provider):
    from tests.helpers import store_secret
    store_secret(gateway, "bob@example.com", "openai", BOB_KEY)
    assert ada.delete(f"/api/teams/{acme['id']}/secrets/openai").status_code == 204
    refused = chat(bob)
    assert refused.status_code == 400 and refused.json["error"]["code"] == "missing_api_key"
    assert fake_provider.keys_seen() == []
    model = bob.get(f"/api/models/{acme['model']['id']}").json["model"]
    assert model["key_status"] == "missing" and model["key_source"] is None


def test_owners_rotate_check_and_bind_the_team_secret(gateway, acme, ada, fake_provider):
    url = f"/api/teams/{acme['id']}/secrets/openai"
    rotated = ada.put(url, json={"api_key": "sk-team-rotated-8888", "expected_version": 1})
    assert rotated.status_code == 200 and rotated.json["secret"]["version"] == 2
    stale = ada.put(url, json={"api_key": "sk-team-stale-0000", "expected_version": 1})
    assert stale.status_code == 409 and stale.json["error"]["code"] == "version_conflict"
    check = ada.post(f"{url}/check")
    assert check.status_code == 200 and check.json["ok"] is True
    assert chat(ada).status_code == 200
    assert fake_provider.keys_seen() == ["sk-team-rotated-8888"] * 2
    token = chat_token(gateway, "ada@example.com")
    with gateway.app_context(), database.connection_context():
        manage = tokens.issue(User.get(User.email == "ada@example.com"), "m", scopes=["chat", "manage"])[1]
    widen = gateway.test_client().put(url, headers={"Authorization": f"Bearer {manage}"},
                                      json={"allowed_hosts": ["evil.example"]})
    assert widen.status_code == 403 and widen.json["error"]["code"] == "session_required"
    narrow_by_chat_token = gateway.test_client().put(url, headers={"Authorization": f"Bearer {token}"},
                                                     json={"api_key": "sk-x-00000000"})
    assert narrow_by_chat_token.json["error"]["code"] == "insufficient_scope"
    bound = ada.put(url, json={"allowed_hosts": ["api.openai.com"], "password": PASSWORD})
    assert bound.status_code == 200 and bound.json["secret"]["allowed_hosts"] == ["api.openai.com"]
    refused = chat(ada)  # the fake's host is no longer allowed
    assert refused.status_code == 403 and refused.json["error"]["code"] == "host_not_allowed"
    assert "team" in refused.json["error"]["message"]


def test_a_team_models_owner_does_not_change_and_its_name_is_the_teams(acme, ada):
    mid = acme["model"]["id"]
    moved = ada.patch(f"/api/models/{mid}", json={"team_id": None})
    assert moved.status_code == 400 and moved.json["error"]["field"] == "team_id"
    assert ada.post("/api/models", json={"name": "x", "provider": "openai", "model_id": "m",
                                         "team_id": "1"}).json["error"]["field"] == "team_id"
    twin = ada.post("/api/models", json={"name": "team-gpt", "provider": "openai", "model_id": "m",
                                         "team_id": acme["id"]})
    assert twin.status_code == 409 and "team already has" in twin.json["error"]["message"]
    mine = ada.post("/api/models", json={"name": "team-gpt", "provider": "openai", "model_id": "m"})
    assert mine.status_code == 201  # a personal namesake: the user's own wins by name
    assert ada.patch(f"/api/models/{mid}", json={"model_id": "echo-2"}).json["model"]["version"] == 2


def test_the_trail_names_who_did_each_team_act(gateway, acme, ada, bob):
    ada.put(f"/api/teams/{acme['id']}/secrets/openai", json={"api_key": "sk-team-rotated-8888"})
    bob.delete(f"/api/teams/{acme['id']}/members/{user_id(gateway, 'bob@example.com')}")
    events = ada.get(f"/api/teams/{acme['id']}/history").json["events"]
    acts = [(e["action"], e["by"]) for e in events]
    assert acts[:2] == [("member.remove", "bob@example.com"), ("secret.rotate", "ada@example.com")]
    assert {"team.create", "member.add", "secret.create", "model.create"} <= {a for a, _ in acts}
    assert all(TEAM_KEY not in str(e) for e in events)
    with gateway.app_context(), database.connection_context():
        assert AuditEvent.select().where(AuditEvent.subject.startswith(f"team:{acme['id']}")).count() == len(events)


# --- accounts leaving -------------------------------------------------------------------------

def delete_account(client, email):
    from tests.helpers import csrf_from
    return client.post("/account/delete", headers={"HX-Request": "true"}, data={
        "confirm_email": email, "confirm_password": PASSWORD, "csrf_token": csrf_from(client.get("/account"))})


def test_the_only_owner_of_a_team_with_members_cannot_delete_their_account(gateway, acme, ada, bob):
    refused = delete_account(ada, "ada@example.com")
    assert refused.status_code == 422 and "only owner of acme" in refused.get_data(as_text=True)
    with gateway.app_context(), database.connection_context():
        assert User.select().where(User.email == "ada@example.com").exists()
        assert Membership.select().count() == 2 and TeamSecret.select().count() == 1
    ada.patch(f"/api/teams/{acme['id']}/members/{user_id(gateway, 'bob@example.com')}", json={"role": "owner"})
    assert delete_account(ada, "ada@example.com").status_code in (200, 204, 302)
    events = bob.get(f"/api/teams/{acme['id']}/history").json["events"]
    assert events[-1]["action"] == "team.create" and events[-1]["by"] is None  # kept, unnamed
    assert bob.get(f"/api/teams/{acme['id']}").json["team"]["secrets"][0]["version"] == 1


def test_a_team_whose_only_member_deletes_their_account_goes_with_it(gateway, eve):
    eve.post("/api/teams", json={"name": "solo"})
    assert "1 team you alone belong to" in eve.get("/account").get_data(as_text=True)
    assert delete_account(eve, "eve@example.com").status_code in (200, 204, 302)
    with gateway.app_context(), database.connection_context():
        from vault.db import Team
        assert Team.select().count() == 0 and Membership.select().count() == 0
