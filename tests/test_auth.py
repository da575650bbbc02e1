"""Register, sign in, sign out, server-side sessions and the login rate limit."""
import re
import subprocess
import sys

from tests.helpers import PASSWORD, csrf_from, make_user, sign_in

from vault.auth import passwords
from vault.db import Session, User


def register(client, email="grace@example.com", password=PASSWORD, confirm=None):
    return client.post("/register", data={"email": email, "password": password,
                                          "confirm": confirm or password,
                                          "csrf_token": csrf_from(client.get("/register"))})


def test_register_makes_the_account_asks_to_sign_in_and_stores_argon2id_hash(client, db):
    response = register(client, "Grace@Example.com")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/secrets").status_code == 302  # nobody is signed in by registering
    login = client.get("/login").get_data(as_text=True)
    assert "Your account is ready" in login and 'value="grace@example.com"' in login
    assert sign_in(client, "grace@example.com").get("/secrets").status_code == 200
    with db():
        user = User.get()
        assert user.email == "grace@example.com"
        assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash


def test_register_with_a_taken_email_makes_no_account_and_signs_nobody_in(client, app, db):
    make_user(app, "grace@example.com")
    taken = register(client, "GRACE@example.com")  # answered as a new account is (tests/security)
    assert taken.status_code == 302 and taken.headers["Location"] == "/login"
    assert client.get("/secrets").status_code == 302
    assert "no second one was made" in client.get("/login").get_data(as_text=True)
    with db():
        assert User.select().count() == 1


def test_register_rejects_mismatch_and_short_passwords(client, app):
    mismatch = register(client, "new@example.com", confirm="something else entirely")
    assert mismatch.status_code == 422 and "differ" in mismatch.get_data(as_text=True)
    short = register(client, "short@example.com", password="short")
    assert short.status_code == 422


def test_wrong_password_and_unknown_email_get_the_same_answer(client, app):
    make_user(app, "ada@example.com")
    token = csrf_from(client.get("/login"))
    wrong = client.post("/login", data={"email": "ada@example.com", "password": "nope nope nope",
                                        "csrf_token": token})
    unknown = client.post("/login", data={"email": "who@example.com", "password": "nope nope nope",
                                          "csrf_token": token})
    assert wrong.status_code == unknown.status_code == 401
    assert "Email or password is wrong." in wrong.get_data(as_text=True)
    def page(response):  # the same page but for the typed email and the per-render CSRF token
        text = response.get_data(as_text=True).replace("who@example.com", "ada@example.com")
        return re.sub(r"[\w-]{20,}\.[\w-]+\.[\w-]+", "CSRF", text)
    assert page(wrong) == page(unknown)


def test_session_cookie_is_httponly_and_lax(client, app):
    make_user(app, "ada@example.com")
    response = client.post("/login", data={"email": "ada@example.com", "password": PASSWORD,
                                           "csrf_token": csrf_from(client.get("/login"))})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_secure_cookie_when_configured(app_config):
    from vault import create_app
    app = create_app({**app_config, "SESSION_COOKIE_SECURE": True})
    make_user(app, "ada@example.com")
    client = app.test_client()
    response = client.post("/login", data={"email": "ada@example.com", "password": PASSWORD,
                                           "csrf_token": csrf_from(client.get("/login"))})
    assert "Secure" in response.headers["Set-Cookie"]


def test_logout_deletes_session_and_replayed_cookie_is_refused(ada, app, db):
    cookie = ada.get_cookie("session").value
    with db():
        assert Session.select().count() == 1
    assert ada.post("/logout").status_code == 302
    with db():
        assert Session.select().count() == 0
    replay = app.test_client()
    replay.set_cookie("session", cookie)
    assert replay.get("/secrets").status_code == 302
    assert replay.get("/api/tokens").status_code == 401


def test_logout_needs_csrf(ada):
    del ada.environ_base["HTTP_X_CSRFTOKEN"]
    assert ada.post("/logout").status_code == 403
    assert ada.get("/secrets").status_code == 200


def test_login_redirects_only_to_local_paths(client, app):
    make_user(app, "ada@example.com")
    def login(next_url):  # each sign-in starts a new session, so each needs a new CSRF token
        data = {"email": "ada@example.com", "password": PASSWORD,
                "csrf_token": csrf_from(client.get("/login"))}
        return client.post(f"/login?next={next_url}", data=data).headers["Location"]
    assert login("//evil.example/x") == "/secrets"
    assert login("https://evil.example/") == "/secrets"
    assert login("/tokens") == "/tokens"


def test_pages_redirect_and_api_answers_401_json_when_signed_out(client):
    assert client.get("/secrets").status_code == 302
    htmx = client.get("/tokens", headers={"HX-Request": "true"})
    assert htmx.status_code == 401 and htmx.headers["HX-Redirect"] == "/login?signed_out=1"
    for path in ("/api/tokens", "/v1/models", "/api/anything"):
        response = client.get(path)
        assert response.status_code in (401, 404)
        assert response.is_json and "error" in response.json


def test_sixth_bad_password_is_rate_limited(client, app):
    make_user(app, "ada@example.com")
    token = csrf_from(client.get("/login"))
    bad = {"email": "ada@example.com", "password": "wrong password!", "csrf_token": token}
    statuses = [client.post("/login", data=bad).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    good = client.post("/login", data={**bad, "password": PASSWORD})
    assert good.status_code == 429 and "wait a minute" in good.get_data(as_text=True)


def test_good_logins_do_not_count_against_the_limit(client, app):
    make_user(app, "ada@example.com")
    for _ in range(7):
        sign_in(client, "ada@example.com")


def test_password_is_rehashed_when_parameters_change(client, app, db):
    from argon2 import PasswordHasher
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    make_user(app, "ada@example.com")
    with db():
        User.update(password_hash=weak).execute()
    sign_in(client, "ada@example.com")
    with db():
        stored = User.get().password_hash
    assert stored != weak and not passwords.needs_rehash(stored)


def test_a_fresh_process_hashes_passwords_with_argon2id_at_production_cost():
    """The suite swaps in a cheap hasher (conftest.py); a process of its own shows what
    passwords.py itself uses: argon2-cffi's RFC 9106 low-memory profile."""
    printed = subprocess.run([sys.executable, "-c", "from vault.auth import passwords; "
                              "print(passwords.hash_password('x'))"], capture_output=True, text=True, check=True)
    assert printed.stdout.startswith("$argon2id$v=19$m=65536,t=3,p=4$"), printed.stdout


def test_sign_in_and_register_tell_password_managers_what_each_field_is(client):
    login, register_page = client.get("/login").get_data(as_text=True), client.get("/register").get_data(as_text=True)
    assert re.search(r'<input autocomplete="username"[^>]*name="email"', login)
    assert re.search(r'<input autocomplete="current-password"[^>]*name="password"', login)
    assert re.search(r'<input autocomplete="username"[^>]*name="email"', register_page)
    assert len(re.findall(r'autocomplete="new-password"', register_page)) == 2


def test_a_missing_page_says_so_and_offers_a_way_on(app, ada):
    stranger = app.test_client().get("/no-such-page").get_data(as_text=True)
    assert "Nothing here" in stranger and 'href="/login"' in stranger and 'href="/register"' in stranger
    signed_in = ada.get("/models/no-such-model/edit")
    body = signed_in.get_data(as_text=True)
    assert signed_in.status_code == 404 and 'href="/secrets"' in body and 'href="/models"' in body


def test_too_many_sign_ins_get_a_page_that_says_what_to_do(client, app):
    make_user(app, "grace@example.com")
    for _ in range(5):
        sign_in_attempt = client.post("/login", data={"email": "grace@example.com", "password": "wrong guess!",
                                                      "csrf_token": csrf_from(client.get("/login"))})
        assert sign_in_attempt.status_code == 401
    locked = client.post("/login", data={"email": "grace@example.com", "password": "wrong guess!",
                                         "csrf_token": csrf_from(client.get("/login"))})
    body = locked.get_data(as_text=True)
    assert locked.status_code == 429 and "Too many attempts" in body and "Nothing was changed" in body
    assert 'href="/login"' in body and locked.headers["Retry-After"]
