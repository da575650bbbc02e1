"""/teams and /teams/<id>: fragments on the teams, secrets and models services. Members read and
owners write (a member's write is the 403 fragment), a non-member finds no team (404), forms
answer 422 with the field's error, and the last owner cannot leave or step down."""
import re

import pytest

from tests.helpers import PASSWORD, close_pool, make_user, sign_in
from vault import create_app
from vault.db import Invitation, LLMModel, Membership, Team, TeamSecret

HX = {"HX-Request": "true"}
TEAM_KEY = "sk-team-pages-SENTINEL-8888"


@pytest.fixture
def app(app_config, fake_provider):
    yield create_app({**app_config, "VAULT_UPSTREAM_TIMEOUT": 1.0,
                      "VAULT_PROVIDER_BASE_URLS": f"openai={fake_provider.openai_base}"})
    close_pool()


@pytest.fixture
def eve(app):
    make_user(app, "eve@example.com")
    return sign_in(app.test_client(), "eve@example.com")


@pytest.fixture
def acme(ada, bob):
    """Ada owns acme, its OpenAI key and a model on it; Bob is a member. Made through the pages."""
    created = ada.post("/teams", data={"name": "acme"}, headers=HX)
    assert created.status_code == 201, created.get_data(as_text=True)
    team = int(re.search(r'href="/teams/(\d+)"', created.get_data(as_text=True)).group(1))
    assert ada.post(f"/teams/{team}/members", data={"email": "bob@example.com", "role": "member"},
                    headers=HX).status_code == 201
    assert ada.post(f"/teams/{team}/secrets/openai", data={"api_key": TEAM_KEY}, headers=HX).status_code == 201
    model = ada.post(f"/teams/{team}/models", data={"name": "team-gpt", "provider": "openai", "model_id": "echo"},
                     headers=HX)
    assert model.status_code == 201, model.get_data(as_text=True)
    ids = {m["name"]: m["id"] for m in ada.get("/api/models").json["models"]}
    return {"id": team, "model": ids["team-gpt"], "bob": _user_id(ada, team, "bob@example.com"),
            "ada": _user_id(ada, team, "ada@example.com")}


def _user_id(client, team, email):
    members = client.get(f"/api/teams/{team}").json["team"]["members"]
    return next(m["user_id"] for m in members if m["email"] == email)


def text(answer):
    return answer.get_data(as_text=True)


def owner_writes(team):
    """(method, path, form) of every write on a team's page that only its owners may make."""
    t, base = team["id"], f"/teams/{team['id']}"
    return [("DELETE", base, None),
            ("POST", f"{base}/members", {"email": "eve@example.com", "role": "member"}),
            ("POST", f"{base}/members/{team['ada']}/role", {"role": "member"}),
            ("DELETE", f"{base}/members/{team['ada']}", None),
            ("DELETE", f"{base}/invitations/1", None),
            ("POST", f"{base}/models", {"name": "bobs", "provider": "openai", "model_id": "echo"}),
            ("DELETE", f"{base}/models/{team['model']}", None),
            ("GET", f"{base}/secrets/openai/rotate", None), ("GET", f"{base}/secrets/groq/new", None),
            ("POST", f"{base}/secrets/groq", {"api_key": "gsk_bob_key_1234567890"}),
            ("POST", f"{base}/secrets/openai/rotate", {"api_key": "sk-bob-1234567890", "expected_version": "1"}),
            ("DELETE", f"{base}/secrets/openai", None), ("POST", f"{base}/secrets/openai/check", None),
            ("GET", f"{base}/secrets/openai/history", None), ("GET", f"{base}/secrets/openai/hosts", None),
            ("POST", f"{base}/secrets/openai/hosts", {"allowed_hosts": "evil.example", "password": PASSWORD})] \
        if t else []


# --- /teams ---------------------------------------------------------------------------------

def test_the_list_says_what_a_team_is_for_until_there_is_one(ada):
    page = ada.get("/teams")
    assert page.status_code == 200 and 'id="team-rows"' in text(page)
    assert "You belong to no team yet" in text(page) and 'aria-current="page">Teams' in text(page)
    fragment = ada.get("/teams", headers=HX)
    assert text(fragment).lstrip().startswith('<div id="team-rows"') and "Vary" in fragment.headers


def test_creating_a_team_answers_a_fresh_form_and_the_list(ada):
    answer = ada.post("/teams", data={"name": "acme"}, headers=HX)
    assert answer.status_code == 201
    body = text(answer)
    assert body.lstrip().startswith('<form id="team-form"') and "Team “acme” created" in body
    assert '<div id="team-rows" hx-swap-oob="true">' in body and '<td data-label="Your role">owner</td>' in body


def test_a_taken_or_empty_name_is_shown_on_the_field(ada):
    assert ada.post("/teams", data={"name": "acme"}, headers=HX).status_code == 201
    taken = ada.post("/teams", data={"name": "acme"}, headers=HX)
    assert taken.status_code == 422 and 'id="name-error"' in text(taken)
    assert "A team named “acme” exists already" in text(taken) and 'aria-invalid="true"' in text(taken)
    empty = ada.post("/teams", data={"name": "  "}, headers=HX)
    assert empty.status_code == 422 and "name&#39; is required" in text(empty)


# --- /teams/<id> ----------------------------------------------------------------------------

def test_the_owner_sees_every_section_and_its_write_buttons(ada, acme):
    page = text(ada.get(f"/teams/{acme['id']}"))
    for piece in ('id="team-members"', 'id="member-form"', 'id="secret-rows"', 'id="secret-openai"',
                  'id="team-models"', 'id="team-model-form"', 'id="team-history"', "Delete team",
                  "Rotate<span", "Make owner<span", "Remove<span", "Leave team", "team-gpt",
                  "the team’s OpenAI secret", "with its 1 provider secret and 1 model? Its 2 members"):
        assert piece in page, piece
    assert TEAM_KEY not in page and "sk-…8888" in page


def test_a_member_sees_the_secret_but_no_write_button(bob, acme):
    page = text(bob.get(f"/teams/{acme['id']}"))
    assert "sk-…8888" in page and 'id="secret-openai"' in page and "team-gpt" in page
    for write in ("Rotate<span", "Add key", "Delete team", "Make owner", "Remove<span", 'id="member-form"',
                  'id="team-model-form"', "Check<span", "History<span", 'id="secret-groq"'):
        assert write not in page, write
    assert "Leave team" in page and TEAM_KEY not in page
    row = bob.get(f"/teams/{acme['id']}/secrets/openai", headers=HX)
    assert row.status_code == 200 and "Rotate" not in text(row) and "sk-…8888" in text(row)


def test_every_owner_write_is_a_403_fragment_for_a_member(app, bob, acme):
    from tests.sweep import snapshot
    before = snapshot(app)
    for method, path, form in owner_writes(acme):
        if path.endswith(f"/members/{acme['ada']}") and method == "DELETE":
            continue  # removing another member: covered below with its own message
        answer = bob.open(path, method=method, data=form or {}, headers=HX)
        assert answer.status_code == 403, (method, path, answer.status_code)
        assert text(answer).startswith('<p class="flash flash-error" role="alert">Only the team'), (method, path)
    removing = bob.delete(f"/teams/{acme['id']}/members/{acme['ada']}", headers=HX)
    assert removing.status_code == 403 and "you can leave the team" in text(removing)
    assert snapshot(app) == before


def test_a_non_member_finds_no_team_on_any_route(eve, acme):
    reads = [("GET", f"/teams/{acme['id']}", None), ("GET", f"/teams/{acme['id']}/history", None),
             ("GET", f"/teams/{acme['id']}/secrets/openai", None)]
    for method, path, form in reads + owner_writes(acme):
        answer = eve.open(path, method=method, data=form or {}, headers=HX)
        assert answer.status_code == 404, (method, path, answer.status_code)
        assert "acme" not in text(answer) and "sk-…8888" not in text(answer)
    assert "acme" not in text(eve.get("/teams")) and eve.get(f"/teams/{acme['id']}").status_code == 404


def test_adding_a_member_answers_the_form_and_the_members(ada, eve, acme):
    answer = ada.post(f"/teams/{acme['id']}/members", data={"email": "Eve@Example.com", "role": "owner"}, headers=HX)
    assert answer.status_code == 201
    body = text(answer)
    assert body.lstrip().startswith('<form id="member-form"') and "eve@example.com is an owner of the team now." in body
    assert '<div id="team-members" hx-swap-oob="true">' in body and 'id="member-' in body


def test_an_unknown_or_present_email_is_shown_on_the_field(ada, eve, acme):
    unknown = ada.post(f"/teams/{acme['id']}/members", data={"email": "nobody@example.com", "role": "member"}, headers=HX)
    assert unknown.status_code == 422 and 'id="email-error"' in text(unknown)
    assert "No account uses nobody@example.com" in text(unknown)
    again = ada.post(f"/teams/{acme['id']}/members", data={"email": "bob@example.com", "role": "member"}, headers=HX)
    assert again.status_code == 422 and "is a member of this team already" in text(again)
    role = ada.post(f"/teams/{acme['id']}/members", data={"email": "eve@example.com", "role": "boss"}, headers=HX)
    assert role.status_code == 422 and 'id="role-error"' in text(role)


def test_under_invite_sign_up_an_unknown_email_is_invited_and_can_be_cancelled(app, ada, bob, acme, db):
    app.config["VAULT_SIGNUP"] = "invite"
    page = text(ada.get(f"/teams/{acme['id']}"))
    assert "you get a link to send them" in page
    answer = ada.post(f"/teams/{acme['id']}/members", data={"email": "new@example.com", "role": "member"}, headers=HX)
    assert answer.status_code == 201 and "new@example.com is invited as member" in text(answer)
    assert "Pending invitations" in text(answer)
    link = re.search(r'id="invitation-link" type="text" readonly value="([^"]+)"', text(answer)).group(1)
    assert "/register?invitation=" in link and link not in text(ada.get(f"/teams/{acme['id']}"))  # shown once
    assert "new@example.com" not in text(bob.get(f"/teams/{acme['id']}"))  # members see no invitations
    with db():
        invitation = Invitation.get(Invitation.email == "new@example.com").id
    cancelled = ada.delete(f"/teams/{acme['id']}/invitations/{invitation}", headers=HX)
    assert cancelled.status_code == 200 and cancelled.headers["HX-Retarget"] == "#team-members"
    assert "Invitation cancelled." in text(cancelled) and "new@example.com" not in text(cancelled)


def test_owners_change_roles_and_the_last_owner_is_told_why_not(ada, bob, acme, db):
    base = f"/teams/{acme['id']}"
    down = ada.post(f"{base}/members/{acme['ada']}/role", data={"role": "member"}, headers=HX)
    assert down.status_code == 200 and down.headers["HX-Retarget"] == "#team-members"
    assert 'role="alert">An owner cannot step down while they are the team' in text(down)
    leave = ada.delete(f"{base}/members/{acme['ada']}", headers=HX)
    assert leave.status_code == 200 and "The team&#39;s only owner cannot leave" in text(leave)
    with db():
        assert Membership.select().where(Membership.role == "owner").count() == 1
    up = ada.post(f"{base}/members/{acme['bob']}/role", data={"role": "owner"}, headers=HX)
    assert up.status_code == 200 and "bob@example.com is an owner now." in text(up)
    mine = ada.post(f"{base}/members/{acme['ada']}/role", data={"role": "member"}, headers=HX)
    assert mine.status_code == 200 and mine.headers["HX-Refresh"] == "true"
    assert "no longer an owner" in text(ada.get(base))


def test_removing_a_member_ends_their_use_and_leaving_goes_back_to_the_list(ada, bob, eve, acme):
    base = f"/teams/{acme['id']}"
    chat = {"model_id": "team-gpt", "messages": [{"role": "user", "content": "hi"}]}
    assert bob.post("/api/chat", json=chat).status_code == 200
    removed = ada.delete(f"{base}/members/{acme['bob']}", headers=HX)
    assert removed.status_code == 200 and "bob@example.com is no longer a member" in text(removed)
    assert bob.post("/api/chat", json=chat).status_code == 404 and bob.get(base).status_code == 404
    assert ada.post(f"{base}/members", data={"email": "eve@example.com", "role": "member"}, headers=HX).status_code == 201
    eve_id = _user_id(ada, acme["id"], "eve@example.com")
    left = eve.delete(f"{base}/members/{eve_id}", headers=HX)
    assert left.status_code == 200 and left.headers["HX-Redirect"] == "/teams"
    assert "You left the team “acme”." in text(eve.get("/teams"))


def test_the_team_secret_rows_are_the_secrets_pages_on_the_team_keys(ada, acme, db):
    base = f"/teams/{acme['id']}/secrets"
    form = ada.get(f"{base}/openai/rotate", headers=HX)
    assert form.status_code == 200 and f'hx-post="{base}/openai/rotate"' in text(form)
    assert f'hx-get="{base}/openai"' in text(form) and "data-cancel" in text(form)
    bad = ada.post(f"{base}/openai/rotate", data={"api_key": "", "expected_version": "1"}, headers=HX)
    assert bad.status_code == 422 and "Enter a new key" in text(bad)
    rotated = ada.post(f"{base}/openai/rotate", data={"api_key": "sk-team-rotated-0000-9999", "expected_version": "1"},
                       headers=HX)
    assert rotated.status_code == 200 and rotated.headers["HX-Retarget"] == "#secret-rows"
    assert "sk-…9999" in text(rotated) and f'hx-get="{base}/openai/rotate"' in text(rotated)
    wide = ada.post(f"{base}/groq", data={"api_key": "gsk_team_key_1234567890", "allowed_hosts": "llm.example.com"},
                    headers=HX)
    assert wide.status_code == 422 and "password" in text(wide).lower()
    history = ada.get(f"{base}/openai/history", headers=HX)
    assert history.status_code == 200 and "rotated" in text(history)
    deleted = ada.delete(f"{base}/openai", headers=HX, data={})
    assert deleted.status_code == 200 and "OpenAI key deleted." in text(deleted)
    assert "The team has no provider secrets yet" in text(deleted)
    with db():
        assert TeamSecret.select().count() == 0
    assert "sk-…9999" not in text(ada.get("/secrets"))  # the personal page is not the team's


def test_team_models_are_added_with_field_errors_and_deleted(ada, acme, db):
    base = f"/teams/{acme['id']}/models"
    taken = ada.post(base, data={"name": "team-gpt", "provider": "openai", "model_id": "echo"}, headers=HX)
    assert taken.status_code == 422 and "The team already has a model named" in text(taken)
    missing = ada.post(base, data={"name": "x", "provider": "openai", "model_id": ""}, headers=HX)
    assert missing.status_code == 422 and 'id="model_id-error"' in text(missing)
    added = ada.post(base, data={"name": "second", "provider": "openai", "model_id": "echo", "api_key": "sk-own-model-key-1234"},
                     headers=HX)
    assert added.status_code == 201 and "Model “second” added" in text(added) and "own key" in text(added)
    assert "sk-own-model-key-1234" not in text(added)
    deleted = ada.delete(f"{base}/{acme['model']}", headers=HX)
    assert deleted.status_code == 200 and deleted.headers["HX-Retarget"] == "#team-models"
    assert "Model “team-gpt” deleted." in text(deleted)
    own = ada.post("/api/models", json={"name": "mine", "provider": "openai", "model_id": "echo"}).json["model"]["id"]
    assert ada.delete(f"{base}/{own}", headers=HX).status_code == 404  # not this team's
    with db():
        assert [m.name for m in LLMModel.select().where(LLMModel.team == acme["id"])] == ["second"]


def test_the_history_is_newest_first_and_read_by_members(bob, acme):
    answer = bob.get(f"/teams/{acme['id']}/history", headers=HX)
    body = text(answer)
    assert answer.status_code == 200 and body.lstrip().startswith('<details id="team-history"')
    assert body.index("added a model") < body.index("added the OpenAI key") < body.index("created the team")
    assert "ada@example.com" in body and TEAM_KEY not in body


def test_deleting_the_team_goes_back_to_the_list(ada, bob, acme, db):
    answer = ada.delete(f"/teams/{acme['id']}", headers=HX)
    assert answer.status_code == 200 and answer.headers["HX-Redirect"] == "/teams"
    assert "Team “acme” deleted" in text(ada.get("/teams"))
    assert bob.get(f"/teams/{acme['id']}").status_code == 404
    with db():
        assert Team.select().count() == 0 and LLMModel.select().count() == 0


def test_the_models_page_links_a_team_model_to_its_team_and_offers_no_edit(bob, ada, acme):
    for client in (ada, bob):
        page = text(client.get("/models"))
        row = page[page.index(f'id="model-{acme["model"]}"'):]
        row = row[:row.index("</tr>")]
        assert f'href="/teams/{acme["id"]}"' in row and "team acme" in row and "shared" not in row
        assert "the team’s OpenAI secret" in row and "Edit" not in row and "Delete" not in row
