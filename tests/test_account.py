"""/account: password change, sign out everywhere (else), one session ended, account deletion;
each session-only, CSRF-guarded and scoped to the signed-in user."""
import re

import pytest

from tests.helpers import PASSWORD, csrf_from, make_user, sign_in, store_secret, token_for

from vault.db import (ApiToken, AuditEvent, LLMModel, ProviderSecret, Session, UsageRecord, User,
                      utcnow)

HX = {"HX-Request": "true"}
NEW_PASSWORD = "a brand new passphrase"
OWNED = (ProviderSecret, LLMModel, ApiToken, Session, UsageRecord, AuditEvent)


@pytest.fixture
def ada_elsewhere(app, ada):
    """A second signed-in client for Ada: another browser."""
    return sign_in(app.test_client(), "ada@example.com")


def signed_in(client):
    return client.get("/api/tokens").status_code == 200


def handles(client):
    """(this session's handle, [the other sessions' handles]) read from the account page."""
    html = client.get("/account").get_data(as_text=True)
    rows = re.findall(r'<tr id="session-([0-9a-f]+)">(.*?)</tr>', html, re.S)
    mine = [h for h, body in rows if "this session" in body]
    return mine[0], [h for h, body in rows if "this session" not in body]


def change(client, current=PASSWORD, new=NEW_PASSWORD, repeat=None, headers=HX):
    return client.post("/account/password", headers=headers, data={
        "current_password": current, "new_password": new, "confirm": repeat or new})


def rows_of(email):
    user = User.get_or_none(User.email == email)
    return {m.__name__: m.select().where(m.user == user).count() for m in OWNED} if user else None


def audit_actions(email):
    user = User.get(User.email == email)
    return [(e.action, e.outcome) for e in AuditEvent.select().where(AuditEvent.user == user)]


def test_account_page_shows_email_sessions_and_labelled_forms(ada, ada_elsewhere, db):
    response = ada.get("/account")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "ada@example.com" in html
    assert html.count("this session") == 1 and len(handles(ada)[1]) == 1
    for label in ("Current password", "New password", "Repeat new password", "Email"):
        assert f">{label}</label>" in html
    for button in ("Change password", "Sign out everywhere else", "Sign out everywhere",
                   "Delete account", "End session"):
        assert f">{button}" in html
    assert 'href="/tokens"' in html and "hx-confirm" in html
    with db():
        for row in Session.select():
            assert row.id not in html  # the hash the cookie is checked against stays server-side


def test_session_rows_fragment(ada, ada_elsewhere):
    response = ada.get("/account", headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and body.lstrip().startswith('<div id="session-rows">')
    assert "HX-Request" in response.headers["Vary"] and body.count("<tr id=\"session-") == 2


def test_password_change_keeps_this_session_and_ends_the_others(app, ada, ada_elsewhere, db):
    with db():
        before = User.get().password_hash
    response = change(ada)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["HX-Trigger"] == "sessions-changed"
    assert 'id="password-form"' in body and "Password changed" in body
    assert NEW_PASSWORD not in body and PASSWORD not in body
    assert signed_in(ada)
    assert not signed_in(ada_elsewhere)
    assert ada_elsewhere.get("/secrets").status_code == 302
    with db():
        after = User.get().password_hash
        assert after != before and after.startswith("$argon2id$")
        assert Session.select().count() == 1
        assert ("user.password_change", "ok") in audit_actions("ada@example.com")
    fresh = app.test_client()
    old = fresh.post("/login", data={"email": "ada@example.com", "password": PASSWORD,
                                     "csrf_token": csrf_from(fresh.get("/login"))})
    assert old.status_code == 401
    sign_in(app.test_client(), "ada@example.com", NEW_PASSWORD)


def test_wrong_current_password_is_refused_and_nothing_changes(ada, ada_elsewhere, db):
    with db():
        before = User.get().password_hash
    response = change(ada, current="not the password")
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="password-form"' in body
    assert "The current password is wrong." in body and 'aria-invalid="true"' in body
    assert signed_in(ada) and signed_in(ada_elsewhere)
    with db():
        assert User.get().password_hash == before and Session.select().count() == 2
        assert ("user.password_change", "refused") in audit_actions("ada@example.com")


@pytest.mark.parametrize("new, repeat, message", [
    ("short", "short", "Use 10 to 1024 characters."),
    (NEW_PASSWORD, NEW_PASSWORD + "!", "The two passwords differ."),
    ("", "", "This field is required."),
])
def test_new_password_rules(ada, ada_elsewhere, db, new, repeat, message):
    with db():
        before = User.get().password_hash
    response = change(ada, new=new, repeat=repeat)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    with db():
        assert User.get().password_hash == before and Session.select().count() == 2


def test_plain_form_posts_work_without_htmx(ada, ada_elsewhere):
    response = change(ada, headers={})
    assert response.status_code == 302 and response.headers["Location"] == "/account"
    assert "Password changed" in ada.get("/account").get_data(as_text=True)
    assert not signed_in(ada_elsewhere)
    refused = change(ada, current="wrong password", headers={})
    assert refused.status_code == 422 and "<html" in refused.get_data(as_text=True)


def test_sign_out_everywhere_else(app, ada, ada_elsewhere, db):
    third = sign_in(app.test_client(), "ada@example.com")
    response = ada.post("/account/sessions/end-others", headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and body.lstrip().startswith('<div id="session-rows">')
    assert "Signed out 2 other sessions." in body and body.count('<tr id="session-') == 1
    assert signed_in(ada) and not signed_in(ada_elsewhere) and not signed_in(third)
    again = ada.post("/account/sessions/end-others", headers=HX)
    assert "There were no other sessions." in again.get_data(as_text=True)
    with db():
        assert ("user.signout_others", "ok") in audit_actions("ada@example.com")


def test_sign_out_everywhere_includes_this_session(ada, ada_elsewhere, db):
    response = ada.post("/account/sessions/end-all", headers=HX)
    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/login"
    assert not signed_in(ada) and not signed_in(ada_elsewhere)
    assert "You are signed out everywhere." in ada.get("/login").get_data(as_text=True)
    with db():
        assert Session.select().count() == 0
        assert ("user.signout_all", "ok") in audit_actions("ada@example.com")


def test_sign_out_everywhere_without_htmx_redirects_to_login(ada):
    response = ada.post("/account/sessions/end-all")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert ada.get("/account").status_code == 302


def test_end_one_other_session(ada, ada_elsewhere, db):
    _, (other,) = handles(ada)
    response = ada.post(f"/account/sessions/{other}/end", headers=HX)
    assert response.status_code == 200 and response.get_data() == b""
    assert response.headers["HX-Trigger"] == "sessions-changed"
    assert signed_in(ada) and not signed_in(ada_elsewhere)
    assert ada.post(f"/account/sessions/{other}/end", headers=HX).status_code == 404


def test_ending_this_session_signs_out(ada):
    mine, _ = handles(ada)
    response = ada.post(f"/account/sessions/{mine}/end", headers=HX)
    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/login"
    assert not signed_in(ada)


def test_other_users_sessions_are_404_and_untouched(app, ada, ada_elsewhere, bob, db):
    mine, (other,) = handles(ada)
    for handle in (mine, other, "0" * 20, "not-a-handle"):
        assert bob.post(f"/account/sessions/{handle}/end", headers=HX).status_code == 404
        assert bob.post(f"/account/sessions/{handle}/end").status_code == 404
    assert bob.post("/account/sessions/end-others", headers=HX).status_code == 200
    assert "this session" in bob.get("/account", headers=HX).get_data(as_text=True)
    assert mine not in bob.get("/account").get_data(as_text=True)
    assert signed_in(ada) and signed_in(ada_elsewhere) and signed_in(bob)
    with db():
        assert rows_of("ada@example.com")["Session"] == 2


def seed(app, email, db):
    """One row of each kind for `email`: secret, model, token, session (signed in), usage, audit."""
    client = sign_in(app.test_client(), email)
    store_secret(app, email, "openai", "sk-test-0123456789abcdef")
    token = token_for(app, email)
    with db():
        user = User.get(User.email == email)
        model = LLMModel.create(user=user, name=f"{email} gpt", provider="openai", model_id="gpt-4o",
                                base_url="https://api.openai.com/v1", auth_type="bearer")
        UsageRecord.create(user=user, model=model.id, key_source="provider_secret",
                           provider="openai", day=utcnow().date(), requests=3)
    return client, token


def test_delete_account_removes_every_row_of_that_user_and_nothing_else(app, db):
    for email in ("ada@example.com", "bob@example.com"):
        make_user(app, email)
    ada, ada_token = seed(app, "ada@example.com", db)
    bob, bob_token = seed(app, "bob@example.com", db)
    with db():
        LLMModel.create(user=None, name="shared gpt", provider="openai", model_id="gpt-4o",
                        base_url="https://api.openai.com/v1", auth_type="bearer")
        assert all(rows_of("ada@example.com").values())  # every table has a row to lose
        bob_before, shared_before = rows_of("bob@example.com"), LLMModel.select().where(
            LLMModel.user.is_null()).count()
        ada_id = User.get(User.email == "ada@example.com").id
    cookie = ada.get_cookie("session").value
    assert app.test_client().get("/api/models", headers={"Authorization": f"Bearer {ada_token}"}).status_code == 200

    response = ada.post("/account/delete", headers=HX, data={
        "confirm_email": " Ada@Example.com ", "confirm_password": PASSWORD})
    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/register"
    assert "everything in it have been deleted" in ada.get("/register").get_data(as_text=True)

    with db():
        assert rows_of("ada@example.com") is None
        for model in OWNED:
            assert model.select().where(model.user == ada_id).count() == 0, model.__name__
        assert rows_of("bob@example.com") == bob_before
        assert LLMModel.select().where(LLMModel.user.is_null()).count() == shared_before == 1
        gone = AuditEvent.get(AuditEvent.action == "user.delete", AuditEvent.outcome == "ok")
        assert gone.user_id is None and gone.subject == f"user:{ada_id}"
    refused = app.test_client().get("/api/models", headers={"Authorization": f"Bearer {ada_token}"})
    assert refused.status_code == 401 and refused.json["error"]["code"] == "unauthorized"
    replay = app.test_client()
    replay.set_cookie("session", cookie)
    assert replay.get("/api/models").status_code == 401
    assert replay.get("/secrets").status_code == 302
    assert app.test_client().get("/api/models", headers={"Authorization": f"Bearer {bob_token}"}).status_code == 200
    assert signed_in(bob)
    make_user(app, "ada@example.com")  # the email is free again


def test_delete_account_without_htmx_redirects_to_register(ada, db):
    response = ada.post("/account/delete", data={"confirm_email": "ada@example.com",
                                                  "confirm_password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/register"
    with db():
        assert User.select().count() == 0


@pytest.mark.parametrize("email, password, message", [
    ("bob@example.com", PASSWORD, "Type this account&#39;s email exactly"),
    ("ada@example.com", "not the password", "The current password is wrong."),
    ("", PASSWORD, "This field is required."),
    ("ada@example.com", "", "This field is required."),
])
def test_delete_account_needs_the_email_and_password(ada, ada_elsewhere, db, email, password, message):
    with db():
        before = rows_of("ada@example.com")
    response = ada.post("/account/delete", headers=HX,
                        data={"confirm_email": email, "confirm_password": password})
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="delete-form"' in body and message in body
    assert "HX-Redirect" not in response.headers
    assert signed_in(ada) and signed_in(ada_elsewhere)
    with db():
        after = rows_of("ada@example.com")
        assert after["Session"] == before["Session"] == 2
        assert {k: v for k, v in after.items() if k != "AuditEvent"} == \
               {k: v for k, v in before.items() if k != "AuditEvent"}


@pytest.mark.parametrize("path, data", [
    ("/account/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                           "confirm": NEW_PASSWORD}),
    ("/account/sessions/end-others", {}),
    ("/account/sessions/end-all", {}),
    ("/account/delete", {"confirm_email": "ada@example.com", "confirm_password": PASSWORD}),
])
def test_account_writes_need_csrf(ada, ada_elsewhere, db, path, data):
    del ada.environ_base["HTTP_X_CSRFTOKEN"]
    with db():
        before = User.get().password_hash
    for headers in (HX, {}, {"X-CSRFToken": "forged"}):
        assert ada.post(path, data=data, headers=headers).status_code == 403
    assert signed_in(ada) and signed_in(ada_elsewhere)
    with db():
        assert User.get().password_hash == before and Session.select().count() == 2


def test_ending_one_session_needs_csrf(ada, ada_elsewhere):
    _, (other,) = handles(ada)
    del ada.environ_base["HTTP_X_CSRFTOKEN"]
    assert ada.post(f"/account/sessions/{other}/end", headers=HX).status_code == 403
    assert signed_in(ada_elsewhere)


def test_api_token_cannot_reach_the_account(app, ada, db):
    token = {"Authorization": f"Bearer {token_for(app, 'ada@example.com')}"}
    other = app.test_client()
    assert other.get("/account", headers=token).status_code == 403
    delete = other.post("/account/delete", headers=token,
                        data={"confirm_email": "ada@example.com", "confirm_password": PASSWORD})
    assert delete.status_code == 403
    assert other.post("/account/sessions/end-all", headers=token).status_code == 403
    with db():
        assert User.select().count() == 1 and Session.select().count() == 1


def test_signed_out_visitors_are_sent_to_login(client):
    assert client.get("/account").headers["Location"].startswith("/login")
    assert client.get("/account", headers=HX).headers["HX-Redirect"] == "/login?signed_out=1"


def test_nav_links_the_email_to_the_account_page(ada):
    html = ada.get("/secrets").get_data(as_text=True)
    assert '<a href="/account"' in html and "ada@example.com</a>" in html


def test_sessions_are_told_apart_by_address_and_start_date(app, ada):
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "198.51.100.23"
    sign_in(other, "ada@example.com")
    page = ada.get("/account").get_data(as_text=True)
    assert "from 198.51.100.23" in page and "from 127.0.0.1" in page
    assert re.search(r'<time datetime="[^"]+">\d{4}-\d{2}-\d{2}</time>', page)  # the day it started
    assert "End session<span class=\"visually-hidden\"> on " in page and "from 198.51.100.23</span>" in page
