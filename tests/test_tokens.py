"""API tokens: Bearer authentication on its own, revocation, expiry, page and JSON API."""
import datetime as dt

from tests.helpers import PASSWORD, token_for

from vault.db import ApiToken, utcnow


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_token_is_shown_once_and_stored_only_as_hash(ada, db):
    response = ada.post("/api/tokens", json={"name": "laptop", "password": PASSWORD})
    assert response.status_code == 201
    token = response.json["token"]
    assert token.startswith("psv_") and response.json["prefix"] == token[:12]
    listed = ada.get("/api/tokens").json["tokens"]
    assert token not in str(listed) and listed[0]["name"] == "laptop"
    with db():
        row = ApiToken.get()
        assert token not in row.token_hash and len(row.token_hash) == 64


def test_bearer_token_authenticates_alone_and_skips_csrf(app, ada, client):
    token = token_for(app, "ada@example.com")
    fresh = app.test_client()
    assert fresh.get("/api/tokens", headers=bearer(token)).status_code == 403  # session-only area
    assert fresh.get("/api/tokens").status_code == 401
    # A bad token with a good session cookie is still refused: no falling back to the cookie.
    refused = ada.get("/api/tokens", headers=bearer("psv_wrong"))
    assert refused.status_code == 401 and refused.json["error"]["code"] == "unauthorized"


def test_revoked_token_is_refused(app, ada, db):
    token = ada.post("/api/tokens", json={"name": "ci", "scopes": ["chat", "manage"], "password": PASSWORD}).json
    other = app.test_client()
    assert other.get("/secrets", headers=bearer(token["token"])).status_code == 200
    assert ada.delete(f"/api/tokens/{token['id']}").status_code == 204
    assert other.get("/secrets", headers=bearer(token["token"])).status_code == 401
    assert ada.get("/api/tokens").json["tokens"][0]["revoked_at"] is not None


def test_expired_token_is_refused(app, ada, db):
    token = ada.post("/api/tokens", json={"name": "short", "expires_in_days": 1, "scopes": ["manage"],
                                           "password": PASSWORD}).json["token"]
    with db():
        ApiToken.update(expires_at=utcnow() - dt.timedelta(seconds=1)).execute()
    assert app.test_client().get("/secrets", headers=bearer(token)).status_code == 401
    page = ada.get("/tokens").get_data(as_text=True)
    assert "expired</span>" in page and "active</span>" not in page


def test_token_api_rejects_bad_bodies(ada):
    assert ada.post("/api/tokens", data="{not json", content_type="application/json").status_code == 400
    assert ada.post("/api/tokens", json=["x"]).json["error"]["code"] == "invalid_json"
    assert ada.post("/api/tokens", json={"name": ""}).status_code == 400
    assert ada.post("/api/tokens", json={"name": 5}).status_code == 400
    assert ada.post("/api/tokens", json={"name": "x" * 101}).status_code == 400
    assert ada.post("/api/tokens", json={"name": "a\x00b"}).status_code == 400
    assert ada.post("/api/tokens", json={"name": "x", "expires_in_days": "1"}).status_code == 400
    assert ada.post("/api/tokens", json={"name": "x", "admin": True}).json["error"]["code"] == "unknown_field"
    assert ada.get("/api/tokens").json["tokens"] == []


def test_other_users_token_is_404_and_stays_active(app, ada, bob):
    token_id = ada.post("/api/tokens", json={"name": "ada's", "password": PASSWORD}).json["id"]
    assert bob.delete(f"/api/tokens/{token_id}").status_code == 404
    assert bob.post(f"/tokens/{token_id}/revoke", headers={"HX-Request": "true"}).status_code == 404
    assert bob.get("/api/tokens").json["tokens"] == []
    assert ada.get("/api/tokens").json["tokens"][0]["revoked_at"] is None


def test_tokens_page_fragments(ada):
    page = ada.get("/tokens")
    assert page.status_code == 200 and 'id="token-rows"' in page.get_data(as_text=True)
    created = ada.post("/tokens", data={"name": "web", "scopes": "chat", "password": PASSWORD},
                       headers={"HX-Request": "true"})
    body = created.get_data(as_text=True)
    assert created.status_code == 201 and "HX-Trigger" not in created.headers
    assert 'id="token-form"' in body and "psv_" in body and "will not be shown again" in body
    assert '<div id="token-rows" hx-swap-oob="true">' in body  # the list too: one round trip
    rows = ada.get("/tokens", headers={"HX-Request": "true"})
    assert rows.get_data(as_text=True).lstrip().startswith('<div id="token-rows">')
    assert "psv_" in rows.get_data(as_text=True)  # the prefix only
    token_id = ada.get("/api/tokens").json["tokens"][0]["id"]
    revoked = ada.post(f"/tokens/{token_id}/revoke", headers={"HX-Request": "true"})
    assert revoked.status_code == 200 and f'id="token-{token_id}"' in revoked.get_data(as_text=True)
    assert "revoked" in revoked.get_data(as_text=True)


def test_token_form_errors_render_in_the_fragment(ada):
    response = ada.post("/tokens", data={"name": ""}, headers={"HX-Request": "true"})
    assert response.status_code == 422 and 'id="token-form"' in response.get_data(as_text=True)


def test_bearer_request_neither_reads_nor_sets_the_session_cookie(app, ada):
    token = token_for(app, "ada@example.com")
    answer = ada.get("/secrets", headers=bearer(token))  # ada's cookie rides along, unused
    assert answer.status_code == 200 and "Set-Cookie" not in answer.headers
    assert "csrf-token" in answer.get_data(as_text=True)  # pages still render for a token


def test_a_token_cannot_use_the_tokens_page_either(app, ada):
    both = {"scopes": ["chat", "manage"], "password": PASSWORD}  # manage: pages, but not this one
    created = ada.post("/api/tokens", json={"name": "ci", **both}).json
    other = ada.post("/api/tokens", json={"name": "other", **both}).json
    bearer_only = app.test_client()
    listing = bearer_only.get("/tokens", headers=bearer(created["token"]))
    assert listing.status_code == 403 and other["prefix"] not in listing.get_data(as_text=True)
    revoke = bearer_only.post(f"/tokens/{other['id']}/revoke", headers={**bearer(created["token"]), "HX-Request": "true"})
    assert revoke.status_code == 403
    assert all(t["revoked_at"] is None for t in ada.get("/api/tokens").json["tokens"])
