"""Attacks on Teams (README, Teams), found by a review of the first version: each test is one
concrete attack, written as the assertion the promise makes. Each failed before its fix.
(Two findings are kept as documented trade-offs, README Security model: adding an email to a team
of one's own tells whether it has an account, and team names are unique on the instance.)"""
import threading
import time

import pytest

from tests.fake_provider import FakeProvider
from tests.helpers import PASSWORD, csrf_from, make_user, sign_in
from vault import create_app
from vault.db import LLMModel, Membership, User, database
from vault.models import catalog
from vault.tokens import service as tokens

TEAM_KEY = "sk-team-SENTINEL-7777"
BOB_KEY = "sk-bob-own-key-1111"


@pytest.fixture
def evil():
    """The attacker's server: another loopback address, so another host for allowed_hosts."""
    fake = FakeProvider(host="127.0.0.2").start()
    yield fake
    fake.stop()


def _app(app_config, fake_provider, **config):
    app = create_app({**app_config, "VAULT_UPSTREAM_TIMEOUT": 2.0, "VAULT_PROVIDER_BASE_URLS":
                      f"openai={fake_provider.openai_base},anthropic={fake_provider.anthropic_base}", **config})
    for email in ("ada@example.com", "bob@example.com", "eve@example.com"):
        make_user(app, email)
    return app


@pytest.fixture
def gateway(app_config, fake_provider):
    return _app(app_config, fake_provider)


def client_of(app, email):
    return sign_in(app.test_client(), email)


def user_id(app, email):
    with app.app_context(), database.connection_context():
        return User.get(User.email == email).id


def token(app, email, scopes=("chat",), models=None):
    with app.app_context(), database.connection_context():
        return tokens.issue(User.get(User.email == email), "cli", scopes=list(scopes), models=models)[1]


def acme(app, ada, bob_email="bob@example.com"):
    """Ada owns acme and its OpenAI key (default hosts: the fake provider's); Bob is a member."""
    team = ada.post("/api/teams", json={"name": "acme"}).json["team"]
    assert ada.post(f"/api/teams/{team['id']}/members", json={"email": bob_email}).status_code == 201
    assert ada.post(f"/api/teams/{team['id']}/secrets",
                    json={"provider": "openai", "api_key": TEAM_KEY}).status_code == 201
    made = ada.post("/api/models", json={"name": "team-gpt", "provider": "openai", "model_id": "echo",
                                         "team_id": team["id"]})
    assert made.status_code == 201, made.json
    return team["id"]


def v1_chat(app, tok, model):
    return app.test_client().post("/v1/chat/completions", headers={"Authorization": f"Bearer {tok}"},
                                  json={"model": model, "messages": [{"role": "user", "content": "PRIVATE-PROMPT"}]})


def prompts_seen(fake):
    return [c for c in fake.calls if "PRIVATE-PROMPT" in str(c.get("json"))]


# --- 1. an invitation is claimed by whoever registers its email first ---------------------------

def register(app, email, password=PASSWORD, code=""):
    client = app.test_client()
    return client.post("/register", data={"email": email, "password": password, "confirm": password,
                                          "invitation": code, "csrf_token": csrf_from(client.get("/register"))})


def test_a_member_claims_an_owner_invitation_by_registering_its_email_and_sends_the_team_key_to_their_host(
        app_config, fake_provider, evil):
    """Under VAULT_SIGNUP=invite, an invitation used to be bound to nothing but an (unverified)
    email, and members saw pending invitations with their roles: Bob, a plain member, registered
    the invited address himself and became an owner. Now members see no invitations, and only the
    code of the owner's link admits the email."""
    app = _app(app_config, fake_provider, VAULT_SIGNUP="invite")
    ada, bob = client_of(app, "ada@example.com"), client_of(app, "bob@example.com")
    tid = acme(app, ada)
    made = ada.post(f"/api/teams/{tid}/members", json={"email": "carol@example.com", "role": "owner"})
    assert made.status_code == 201 and "invitation=" in made.json["invitation"]["link"]
    assert bob.get(f"/api/teams/{tid}").json["team"]["invitations"] == []
    assert ada.get(f"/api/teams/{tid}").json["team"]["invitations"][0]["email"] == "carol@example.com"
    assert "link" not in ada.get(f"/api/teams/{tid}").json["team"]["invitations"][0]  # shown once
    assert register(app, "carol@example.com", "bobs-own-password").status_code == 403  # Bob, not Carol
    assert register(app, "carol@example.com", "bobs-own-password", code="guess").status_code == 403
    with app.app_context(), database.connection_context():
        assert not User.select().where(User.email == "carol@example.com").exists()
    code = made.json["invitation"]["link"].split("invitation=")[1]
    assert register(app, "carol@example.com", "carols-password", code=code).status_code == 302  # Carol
    carol = sign_in(app.test_client(), "carol@example.com", "carols-password")
    assert carol.get(f"/api/teams/{tid}").json["team"]["role"] == "owner"
    assert TEAM_KEY not in evil.keys_seen()


# --- 2. anyone adds anyone to a team, and a team model shadows what the victim already uses ----

def catalog_model(app, name="gpt-4o"):
    with app.app_context(), database.connection_context():
        catalog.load([{"name": name, "provider": "openai", "model_id": "echo"}])
        return LLMModel.get(LLMModel.name == name, LLMModel.user.is_null()).id


def hijack(eve, victim_email, name, evil, tid=None):
    """Eve's own team, the victim added without asking, and a team model of that name on Eve's host."""
    tid = tid or eve.post("/api/teams", json={"name": "totally-legit"}).json["team"]["id"]
    assert eve.post(f"/api/teams/{tid}/members", json={"email": victim_email}).status_code == 201
    made = eve.post("/api/models", json={"name": name, "provider": "openai", "model_id": "echo",
                                         "base_url": evil.openai_base, "auth_type": "none", "team_id": tid})
    assert made.status_code == 201, made.json
    return tid


def test_an_outsider_adds_a_victim_to_their_team_and_takes_the_victims_catalog_model_name(gateway, evil):
    """Bob chats with the shared catalog's gpt-4o on his own key, through a token limited to
    "gpt-4o". Eve, a stranger, adds Bob to a team of hers (no consent asked) and gives it a
    model named gpt-4o on her server: a team's model wins over the catalog's, so Bob's next
    prompt goes to Eve."""
    from tests.helpers import store_secret
    store_secret(gateway, "bob@example.com", "openai", BOB_KEY)
    catalog_model(gateway)
    tok = token(gateway, "bob@example.com", models=["gpt-4o"])
    assert v1_chat(gateway, tok, "gpt-4o").status_code == 200
    hijack(client_of(gateway, "eve@example.com"), "bob@example.com", "gpt-4o", evil)
    refused = v1_chat(gateway, tok, "gpt-4o")
    assert prompts_seen(evil) == [], "a stranger's team model took over the name Bob's client uses"
    assert refused.status_code == 409 and refused.json["error"]["code"] == "ambiguous_model"


def test_a_team_model_named_like_a_catalog_models_id_takes_the_requests_made_by_that_id(gateway, evil):
    """Catalog ids are visible to everyone; a name wins over an id in the resolver, so a team model
    named with the catalog model's id takes over clients that use the id to be unambiguous."""
    from tests.helpers import store_secret
    store_secret(gateway, "bob@example.com", "openai", BOB_KEY)
    shared_id = catalog_model(gateway)
    tok = token(gateway, "bob@example.com")
    assert v1_chat(gateway, tok, shared_id).status_code == 200
    eve = client_of(gateway, "eve@example.com")
    tid = hijack(eve, "bob@example.com", "decoy", evil)
    named = eve.post("/api/models", json={"name": shared_id, "provider": "openai", "model_id": "echo",
                                          "base_url": evil.openai_base, "auth_type": "none", "team_id": tid})
    assert named.status_code == 400 and named.json["error"]["field"] == "name"
    assert v1_chat(gateway, tok, shared_id).status_code == 200
    assert prompts_seen(evil) == [], "a model id resolved to another model, named with that id"


def test_an_owner_of_another_team_takes_a_team_model_name_the_member_already_uses(gateway, evil):
    """Eve keeps a team with models named as popular team models (here: team-gpt, made before
    acme's). Once she adds Bob, acme's team-gpt and hers tie in the resolver's ORDER BY (both
    team models); the tie goes to the older row, hers, on SQLite and PostgreSQL alike: Bob's
    token, limited to "team-gpt", now sends his acme prompts to Eve's server."""
    eve = client_of(gateway, "eve@example.com")
    tid = eve.post("/api/teams", json={"name": "aaa-early"}).json["team"]["id"]
    assert eve.post("/api/models", json={"name": "team-gpt", "provider": "openai", "model_id": "echo",
                                         "base_url": evil.openai_base, "auth_type": "none",
                                         "team_id": tid}).status_code == 201
    acme(gateway, client_of(gateway, "ada@example.com"))
    tok = token(gateway, "bob@example.com", models=["team-gpt"])
    assert v1_chat(gateway, tok, "team-gpt").status_code == 200 and prompts_seen(evil) == []
    assert eve.post(f"/api/teams/{tid}/members", json={"email": "bob@example.com"}).status_code == 201
    refused = v1_chat(gateway, tok, "team-gpt")
    assert prompts_seen(evil) == [], "Bob's acme requests went to another team's namesake"
    assert refused.status_code == 409 and refused.json["error"]["code"] == "ambiguous_model"


# --- 3. the last owner, raced ----------------------------------------------------------------------

def delete_account(client, email):
    return client.post("/account/delete", headers={"HX-Request": "true"}, data={
        "confirm_email": email, "confirm_password": PASSWORD, "csrf_token": csrf_from(client.get("/account"))})


def test_an_owner_deleting_their_account_while_the_other_owner_steps_down_leaves_a_team_without_owner(
        gateway, monkeypatch):
    """Account deletion counts the team's owners without the team's row lock that role changes
    take: on PostgreSQL Ada's deletion sees Bob still owner, Bob's step-down sees Ada still owner
    (her deletion is not committed), both commit, and acme keeps Eve with no owner at all."""
    if "sqlite" in gateway.config["DATABASE_URL"]:
        pytest.skip("SQLite's IMMEDIATE transactions serialize the two; the race is PostgreSQL's")
    from vault.teams import service as teams
    ada, bob = client_of(gateway, "ada@example.com"), client_of(gateway, "bob@example.com")
    tid = acme(gateway, ada)
    members = f"/api/teams/{tid}/members"
    assert ada.patch(f"{members}/{user_id(gateway, 'bob@example.com')}", json={"role": "owner"}).status_code == 200
    assert ada.post(members, json={"email": "eve@example.com"}).status_code == 201
    counted, go = threading.Event(), threading.Event()
    original = teams.on_account_deletion

    def paused(user):  # Ada's transaction, just after its owner count
        original(user)
        counted.set()
        go.wait(10)
    monkeypatch.setattr(teams, "on_account_deletion", paused)
    ada_csrf = csrf_from(ada.get("/account"))
    answers = {}
    deleting = threading.Thread(target=lambda: answers.update(ada=ada.post(
        "/account/delete", headers={"HX-Request": "true"},
        data={"confirm_email": "ada@example.com", "confirm_password": PASSWORD, "csrf_token": ada_csrf})))
    deleting.start()
    assert counted.wait(10)
    bob_id = user_id(gateway, "bob@example.com")
    stepping_down = threading.Thread(target=lambda: answers.update(
        bob=bob.patch(f"{members}/{bob_id}", json={"role": "member"})))
    stepping_down.start()
    time.sleep(0.3)  # Bob's change is under way (with the lock, it waits for Ada's to end)
    go.set()
    deleting.join(10)
    stepping_down.join(10)
    with gateway.app_context(), database.connection_context():
        owners = Membership.select().where(Membership.team == tid, Membership.role == "owner").count()
        left = Membership.select().where(Membership.team == tid).count()
    assert not (left and owners == 0), (f"team {tid} has {left} members and no owner "
                                        f"(Bob's step-down: {answers['bob'].status_code}, "
                                        f"Ada's deletion: {answers['ada'].status_code})")


# --- 4. the trail ------------------------------------------------------------------------------------

def test_on_sqlite_a_team_made_in_the_second_another_was_deleted_inherits_its_trail(gateway):
    """SQLite hands a deleted team's id to the next team (no AUTOINCREMENT), and the trail keeps
    events at or after the new team's created_at, which is whole seconds: Eve's new team shows
    what acme did in its last second, with Ada's and Bob's emails."""
    if "sqlite" not in gateway.config["DATABASE_URL"]:
        pytest.skip("PostgreSQL's sequences never hand an id out twice")
    ada, eve = client_of(gateway, "ada@example.com"), client_of(gateway, "eve@example.com")
    time.sleep(1 - time.time() % 1 + 0.01)  # at the start of a second: all of it fits in one
    tid = ada.post("/api/teams", json={"name": "acme-private"}).json["team"]["id"]
    ada.post(f"/api/teams/{tid}/members", json={"email": "bob@example.com"})
    assert ada.delete(f"/api/teams/{tid}").status_code == 204
    mine = eve.post("/api/teams", json={"name": "eve-team"}).json["team"]["id"]
    assert mine == tid  # the id again
    events = eve.get(f"/api/teams/{mine}/history").json["events"]
    assert [(e["action"], e["by"]) for e in events] == [("team.create", "eve@example.com")], events


def test_a_member_deleting_their_account_leaves_the_team_without_a_trail_entry(gateway):
    """Every team act is audited with the actor, but a member who deletes their account leaves
    the team (the membership cascades) with nothing in the team's trail: its owners see Bob
    added and never removed."""
    ada, bob = client_of(gateway, "ada@example.com"), client_of(gateway, "bob@example.com")
    tid = acme(gateway, ada)
    assert delete_account(bob, "bob@example.com").status_code in (200, 204, 302)
    assert [m["email"] for m in ada.get(f"/api/teams/{tid}").json["team"]["members"]] == ["ada@example.com"]
    actions = [e["action"] for e in ada.get(f"/api/teams/{tid}/history").json["events"]]
    assert "member.remove" in actions or "member.leave" in actions or "user.delete" in actions, actions


def test_a_deleted_accounts_own_acts_still_name_it_in_the_trail(gateway):
    """README: "A deleted account's acts stay in the trail, without its name". Bob leaves acme
    (his act, detail: his email), then deletes his account: 'by' is blanked, the detail is not."""
    ada, bob = client_of(gateway, "ada@example.com"), client_of(gateway, "bob@example.com")
    tid = acme(gateway, ada)
    assert bob.delete(f"/api/teams/{tid}/members/{user_id(gateway, 'bob@example.com')}").status_code == 204
    assert delete_account(bob, "bob@example.com").status_code in (200, 204, 302)
    events = ada.get(f"/api/teams/{tid}/history").json["events"]
    [left] = [e for e in events if e["action"] == "member.remove"]
    assert left["by"] is None
    assert "bob@example.com" not in str(left), left
