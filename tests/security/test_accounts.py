"""Attacks on accounts: a sign-in link that sends the victim elsewhere, a token minted from a
stolen session, password guessing from one address, many addresses or behind a proxy, mass
registration, asking who is registered, and flooding the audit trail. Each test names the attack
and fails on the version before the fix."""
import re
import secrets

import pytest

from tests.helpers import PASSWORD, csrf_from, make_user, sign_in, token_for
from vault import StartupError, create_app
from vault.auth import passwords
from vault.db import ApiToken, AuditEvent, User

HX = {"HX-Request": "true"}
NEW_PASSWORD = "a brand new passphrase"
BOX = {"revoke_tokens_offered": "1", "revoke_tokens": "y"}  # as the account page sends it, ticked


def post_login(client, email, password, address=None, query=""):
    headers = {"X-Forwarded-For": address} if address else {}
    return client.post(f"/login{query}", headers=headers, data={
        "email": email, "password": password, "csrf_token": csrf_from(client.get("/login"))})


@pytest.fixture
def proxied(app_config):
    """The app behind a proxy on 127.0.0.1 (the test client's address) and 10.0.0.0/8."""
    app = create_app({**app_config, "VAULT_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8"})
    for email in ("ada@example.com", "bob@example.com"):
        make_user(app, email)
    return app


# --- 1. open redirect after sign-in --------------------------------------------------------

@pytest.mark.parametrize("target", [
    "/%09/evil.example/phish", "/%0d%0a/evil.example", "/%0a/evil.example", "/%0d/evil.example",
    "/%5c/evil.example", "/%5c%5cevil.example", "/%09%5c/evil.example", "/%E3%80%80/evil.example",
    "//evil.example", "/%2f/evil.example", "https://evil.example/", "%09//evil.example",
    "javascript:alert(1)", "/%00/evil.example"])
def test_sign_in_link_cannot_send_the_user_to_another_site(client, app, target):
    make_user(app, "ada@example.com")
    answer = post_login(client, "ada@example.com", PASSWORD, query=f"?next={target}")
    assert answer.status_code == 302 and answer.headers["Location"] == "/secrets"


def test_sign_in_link_to_a_page_here_still_works(client, app):
    make_user(app, "ada@example.com")
    answer = post_login(client, "ada@example.com", PASSWORD, query="?next=/models%3Fprovider%3Dopenai")
    assert answer.headers["Location"] == "/models?provider=openai"


# --- 2. a token minted from a stolen session --------------------------------------------------

@pytest.fixture
def stolen(app, ada):
    """The thief's copy of ada's session minted a token (the password was phished once); it
    and a second token ada made herself are both live."""
    thief = app.test_client()
    thief.set_cookie("session", ada.get_cookie("session").value)
    thief.environ_base["HTTP_X_CSRFTOKEN"] = ada.environ_base["HTTP_X_CSRFTOKEN"]
    minted = thief.post("/api/tokens", json={"name": "backup", "scopes": ["chat", "manage"], "password": PASSWORD})
    assert minted.status_code == 201
    token_for(app, "ada@example.com", "ada's own")
    return {"Authorization": f"Bearer {minted.json['token']}"}


def works(app, bearer):
    return app.test_client().get("/api/secrets", headers=bearer).status_code == 200


def live_tokens(db):
    with db():
        return ApiToken.select().where(ApiToken.revoked_at.is_null()).count()


def test_stolen_token_dies_with_the_victims_password_change(app, ada, stolen, db):
    answer = ada.post("/account/password", headers=HX, data={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD, **BOX})
    body = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "Revoked 2 API tokens." in body
    assert 'id="delete-holdings" class="warning" hx-swap-oob="true"' in body and "0 API tokens" in body
    assert not works(app, stolen) and live_tokens(db) == 0
    with db():
        revoked = AuditEvent.select().where(AuditEvent.action == "token.revoke")
        assert [e.detail for e in revoked] == ["password changed"] * 2


@pytest.mark.parametrize("path, note", [("/account/sessions/end-all", None),
                                        ("/account/sessions/end-others", "Revoked 2 API tokens.")])
def test_stolen_token_dies_when_the_victim_signs_out_everywhere(app, ada, stolen, db, path, note):
    answer = ada.post(path, headers=HX, data=BOX)
    assert answer.status_code == 200
    if note:
        assert note in answer.get_data(as_text=True)
    else:  # signed out: the sign-in page says it
        assert "Revoked 2 API tokens." in ada.get("/login").get_data(as_text=True)
    assert not works(app, stolen) and live_tokens(db) == 0


def test_a_script_that_posts_no_box_revokes_tokens_too(app, ada, stolen, db):
    ada.post("/account/password", headers=HX, data={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert not works(app, stolen) and live_tokens(db) == 0


@pytest.mark.parametrize("path, data", [
    ("/account/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}),
    ("/account/sessions/end-others", {})])
def test_unticking_the_box_keeps_the_tokens_and_says_so(app, ada, stolen, db, path, data):
    answer = ada.post(path, headers=HX, data={**data, "revoke_tokens_offered": "1"})
    assert answer.status_code == 200 and "Your API tokens still work." in answer.get_data(as_text=True)
    assert works(app, stolen) and live_tokens(db) == 2


def test_the_account_page_offers_the_box_ticked_and_says_what_keeping_means(ada):
    html = ada.get("/account").get_data(as_text=True)
    assert html.count('name="revoke_tokens" value="y" checked') == 2  # password form, sign-out form
    assert html.count('name="revoke_tokens_offered" value="1"') == 2
    assert "stolen session keeps working until it is revoked" in html


# --- 3. password guessing -------------------------------------------------------------------

def test_five_wrong_passwords_lock_the_account_whatever_address_guesses(proxied):
    client = proxied.test_client()
    for n in range(5):
        assert post_login(client, "ada@example.com", "wrong guess!", f"203.0.113.{n + 1}").status_code == 401
    locked = post_login(client, "ada@example.com", PASSWORD, "198.51.100.7")
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) <= 61
    assert post_login(client, "bob@example.com", PASSWORD, "198.51.100.7").status_code == 302


def test_guesses_sent_as_json_lock_the_account_too(proxied):
    """Flask-WTF reads a JSON body as the form: the account lock must read the same email."""
    client = proxied.test_client()
    csrf = {"X-CSRFToken": csrf_from(client.get("/login"))}
    for n in range(5):
        guess = client.post("/login", json={"email": "ada@example.com", "password": "wrong guess!"},
                            headers={**csrf, "X-Forwarded-For": f"203.0.113.{n + 1}"})
        assert guess.status_code == 401
    assert post_login(client, "ada@example.com", PASSWORD, "198.51.100.7").status_code == 429


def test_a_lock_does_not_say_whether_the_email_is_registered(proxied):
    client = proxied.test_client()
    for email, address in (("ada@example.com", "203.0.113.1"), ("nobody@example.com", "203.0.113.2")):
        for _ in range(5):
            assert post_login(client, email, "wrong guess!", address).status_code == 401
    known = post_login(client, "ada@example.com", "wrong guess!", "198.51.100.1")
    unknown = post_login(client, "nobody@example.com", "wrong guess!", "198.51.100.2")
    assert known.status_code == unknown.status_code == 429
    # the same page, but for the seconds to wait, which the clock may have moved between the two
    assert re.sub(rb"\d+", b"N", known.get_data()) == re.sub(rb"\d+", b"N", unknown.get_data())


def test_one_address_is_limited_across_accounts(proxied):
    client = proxied.test_client()
    for n in range(5):
        assert post_login(client, f"user{n}@example.com", "wrong guess!", "203.0.113.9").status_code == 401
    assert post_login(client, "bob@example.com", PASSWORD, "203.0.113.9").status_code == 429


def test_x_forwarded_for_is_ignored_unless_the_proxy_is_trusted(client, app, db):
    make_user(app, "bob@example.com")
    for n in range(5):  # a new forged address each time, and another account each time
        assert post_login(client, f"user{n}@example.com", "wrong guess!", f"203.0.113.{n}").status_code == 401
    assert post_login(client, "bob@example.com", PASSWORD, "198.51.100.99").status_code == 429
    with db():
        assert {e.ip for e in AuditEvent.select().where(AuditEvent.action == "user.login")} == {"127.0.0.1"}


def test_forged_entries_left_of_the_proxys_own_are_not_believed(proxied, db):
    client = proxied.test_client()
    for n in range(5):  # the client writes a new address first; the proxies append the real one
        chain = f"198.51.100.{n}, 203.0.113.50, 10.1.2.3"
        assert post_login(client, f"user{n}@example.com", "wrong guess!", chain).status_code == 401
    assert post_login(client, "bob@example.com", PASSWORD, "192.0.2.1, 203.0.113.50").status_code == 429
    with db():
        refusals = AuditEvent.select().where(AuditEvent.action == "user.login", AuditEvent.outcome == "refused")
        assert {e.ip for e in refusals} == {"203.0.113.50"}


def test_a_bad_trusted_proxy_setting_stops_the_app_with_its_name(app_config):
    with pytest.raises(StartupError, match="VAULT_TRUSTED_PROXIES: '10.0.0.0/33'"):
        create_app({**app_config, "VAULT_TRUSTED_PROXIES": "10.0.0.0/33"})


def test_password_checks_on_the_account_tokens_and_hosts_share_the_account_lock(proxied):
    ada = proxied.test_client()
    ada.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.70"
    sign_in(ada, "ada@example.com")
    assert ada.post("/account/password", headers=HX, data={
        "current_password": "wrong guess!", "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 422
    assert ada.post("/account/delete", headers=HX, data={
        "confirm_email": "ada@example.com", "confirm_password": "wrong guess!"}).status_code == 422
    assert ada.post("/api/tokens", json={"name": "t", "password": "wrong guess!"}).status_code == 403
    assert ada.post("/api/secrets", json={"provider": "openai", "api_key": "sk-test-0123456789"}).status_code == 201
    assert ada.put("/api/secrets/openai", json={"allowed_hosts": ["evil.example"],
                                                "password": "wrong guess!"}).status_code == 403
    assert ada.post("/tokens", headers=HX, data={"name": "t", "scopes": "chat",
                                                 "password": "wrong guess!"}).status_code == 422
    elsewhere = proxied.test_client()  # five refusals from one session lock the account anywhere
    assert post_login(elsewhere, "ada@example.com", PASSWORD, "198.51.100.70").status_code == 429
    assert ada.post("/api/tokens", json={"name": "t", "password": PASSWORD}).status_code == 429


def test_a_locked_account_can_still_rotate_a_key_by_token(app, ada):
    """The lock is on guessing: a request that sends no password is no guess."""
    bearer = {"Authorization": f"Bearer {token_for(app, 'ada@example.com')}"}
    assert ada.post("/api/secrets", json={"provider": "openai", "api_key": "sk-test-0123456789"}).status_code == 201
    for _ in range(5):
        assert ada.post("/api/tokens", json={"name": "t", "password": "wrong guess!"}).status_code == 403
    rotated = app.test_client().put("/api/secrets/openai", headers=bearer, json={"api_key": "sk-test-9876543210"})
    assert rotated.status_code == 200
    assert ada.post("/api/tokens", json={"name": "t", "password": PASSWORD}).status_code == 429


# --- mass registration and asking who is registered -----------------------------------------

def register(client, email, address=None):
    headers = {"X-Forwarded-For": address} if address else {}
    return client.post("/register", headers=headers, data={
        "email": email, "password": PASSWORD, "confirm": PASSWORD,
        "csrf_token": csrf_from(client.get("/register"))})


def test_successful_registrations_from_one_address_are_limited_too(proxied, db):
    for n in range(20):  # RATELIMIT_REGISTER: 20 per hour, every attempt counted
        assert register(proxied.test_client(), f"new{n}@example.com", "203.0.113.80").status_code == 302
    assert register(proxied.test_client(), "new20@example.com", "203.0.113.80").status_code == 429
    assert register(proxied.test_client(), "new21@example.com", "198.51.100.80").status_code == 302
    with db():
        assert User.select().count() == 2 + 21


def csrf_from_text(page):
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def test_registering_a_taken_email_answers_as_a_new_account_does(app, db, monkeypatch):
    make_user(app, "ada@example.com")
    hashed = []
    monkeypatch.setattr(passwords, "hash_password", lambda pw: hashed.append(pw) or passwords.hasher.hash(pw))
    fresh_client, taken_client = app.test_client(), app.test_client()
    fresh, taken = register(fresh_client, "grace@example.com"), register(taken_client, "ADA@example.com")
    assert (fresh.status_code, fresh.headers["Location"], fresh.get_data()) == \
           (taken.status_code, taken.headers["Location"], taken.get_data())
    assert len(hashed) == 2  # the same work either way, so the time says nothing either
    # nor does what follows: neither is signed in, and each is asked to sign in the same way
    for client in (fresh_client, taken_client):
        assert client.get("/api/tokens").status_code == 401
    pages = [c.get("/login").get_data(as_text=True).replace("grace@example.com", "E").replace("ada@example.com", "E")
             for c in (fresh_client, taken_client)]
    csrf = [csrf_from_text(page) for page in pages]
    assert pages[0].replace(csrf[0], "T") == pages[1].replace(csrf[1], "T")
    with db():
        assert User.select().where(User.email == "ada@example.com").count() == 1


def test_registering_a_taken_email_signs_nobody_in(app, client, ada):
    stranger = app.test_client()
    assert register(stranger, "ada@example.com").status_code == 302
    assert stranger.get("/api/tokens").status_code == 401 and stranger.get("/account").status_code == 302


# --- 4. flooding the audit trail -------------------------------------------------------------

def denied_rows(db):
    with db():
        return AuditEvent.select().where(AuditEvent.outcome == "denied").count()


def test_500_requests_for_a_secret_one_does_not_have_leave_a_row_a_minute(app, ada, db):
    bearer = {"Authorization": f"Bearer {token_for(app, 'ada@example.com')}"}
    script = app.test_client()
    for _ in range(500):
        assert script.get("/api/secrets/openai", headers=bearer).status_code == 404
    assert 1 <= denied_rows(db) <= 2  # two when the run straddles a minute


def test_500_requests_for_made_up_provider_names_leave_a_row_a_minute(app, ada, db):
    bearer = {"Authorization": f"Bearer {token_for(app, 'ada@example.com')}"}
    script = app.test_client()
    for _ in range(500):
        assert script.get(f"/api/secrets/x{secrets.token_hex(4)}", headers=bearer).status_code == 404
    assert 1 <= denied_rows(db) <= 2
