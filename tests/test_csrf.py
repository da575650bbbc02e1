"""CSRF: every unsafe browser-session request needs the token; Bearer requests do not."""
from tests.helpers import PASSWORD, csrf_from, make_user, token_for


def test_form_post_without_csrf_is_refused(client, app):
    make_user(app, "ada@example.com")
    response = client.post("/login", data={"email": "ada@example.com", "password": PASSWORD})
    assert response.status_code == 403


def test_session_json_write_without_header_is_refused(ada):
    del ada.environ_base["HTTP_X_CSRFTOKEN"]
    response = ada.post("/api/tokens", json={"name": "x", "password": PASSWORD})
    assert response.status_code == 403 and response.json["error"]["code"] == "csrf_failed"
    ada.environ_base["HTTP_X_CSRFTOKEN"] = "forged"
    assert ada.post("/api/tokens", json={"name": "x", "password": PASSWORD}).status_code == 403


def test_htmx_write_without_csrf_is_refused(ada):
    del ada.environ_base["HTTP_X_CSRFTOKEN"]
    response = ada.post("/tokens", data={"name": "x", "scopes": "chat", "password": PASSWORD},
                        headers={"HX-Request": "true"})
    assert response.status_code == 403


def test_bearer_write_skips_csrf(app, ada):
    token = token_for(app, "ada@example.com")
    response = app.test_client().post("/api/tokens", json={"name": "x"},
                                      headers={"Authorization": f"Bearer {token}"})
    # past CSRF, refused by the area's own rule (tokens cannot mint tokens)
    assert response.status_code == 403 and response.json["error"]["code"] == "session_required"


def test_unauthenticated_api_writes_get_401_not_a_csrf_refusal(client):
    for method, path in (("POST", "/api/secrets"), ("PUT", "/api/secrets/openai"), ("DELETE", "/api/models/x"),
                         ("POST", "/api/chat"), ("POST", "/v1/chat/completions")):
        answer = client.open(path, method=method, json={})
        assert answer.status_code == 401 and answer.json["error"]["code"] == "unauthorized", (method, path)


def test_an_action_from_a_tab_whose_session_ended_elsewhere_says_sign_in_again(app, ada):
    """Signed out in another tab: the old page's next action leads to sign-in with a sentence
    saying why, not "The CSRF token is missing or stale"."""
    token = csrf_from(ada.get("/secrets"))
    assert ada.post("/logout", headers={"X-CSRFToken": token}).status_code in (302, 303)
    stale = ada.post("/secrets/openai/check", headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert stale.status_code == 401 and stale.headers["HX-Redirect"] == "/login?signed_out=1"
    page = ada.post("/tokens", data={"name": "x", "csrf_token": token})
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")
    login = ada.get("/login?signed_out=1").get_data(as_text=True)
    assert "You were signed out" in login and "stale" not in login
