"""Isolation: a second user trying every secrets route with the first user's provider names
gets 404, changes nothing, never reaches the provider, and the attempt is audited."""
import datetime as dt

import pytest

from vault import llm
from vault.db import AuditEvent, ProviderSecret, User

HX = {"HX-Request": "true"}
KEY = "sk-ada-private-key-00000001"

ATTEMPTS = [  # method, path, body (JSON for /api, form otherwise)
    ("get", "/api/secrets/openai", None),
    ("put", "/api/secrets/openai", {"api_key": "sk-bob-was-here-0000000"}),
    ("put", "/api/secrets/openai", {"api_key": "sk-bob-was-here-0000000", "expected_version": 1}),
    ("put", "/api/secrets/openai", {"expires_at": "2000-01-01"}),
    ("delete", "/api/secrets/openai", None),
    ("post", "/api/secrets/openai/check", None),
    ("get", "/api/secrets/openai/history", None),
    ("get", "/secrets/openai/rotate", None),
    ("post", "/secrets/openai/rotate", {"api_key": "sk-bob-was-here-0000000", "expected_version": "1"}),
    ("delete", "/secrets/openai", None),
    ("post", "/secrets/openai/check", None),
    ("get", "/secrets/openai/history", None),
]


@pytest.fixture
def ada_secret(ada, db):
    assert ada.post("/api/secrets", json={"provider": "openai", "api_key": KEY,
                                          "expires_at": "2099-01-01"}).status_code == 201
    with db():
        return ProviderSecret.get().__data__.copy()


@pytest.mark.parametrize("method, path, body", ATTEMPTS)
def test_other_users_secret_is_404(ada_secret, ada, bob, db, monkeypatch, method, path, body):
    monkeypatch.setattr(llm, "check_connection", lambda *a, **k: pytest.fail("provider called"))
    if path.startswith("/api/"):
        response = getattr(bob, method)(path, json=body) if body else getattr(bob, method)(path)
        assert response.json["error"]["code"] == "not_found"
    else:
        response = getattr(bob, method)(path, data=body or {}, headers=HX)
    assert response.status_code == 404, (method, path)
    assert KEY not in response.get_data(as_text=True)
    with db():
        assert ProviderSecret.get().__data__ == ada_secret  # nothing changed, not even a timestamp
        bob_id = User.get(User.email == "bob@example.com").id
        denied = list(AuditEvent.select().where(AuditEvent.user == bob_id, AuditEvent.subject == "secret:openai"))
        assert [(e.outcome, e.version) for e in denied] == [("denied", None)]
        ada_events = AuditEvent.select().where(AuditEvent.user != bob_id, AuditEvent.subject == "secret:openai")
        assert [e.action for e in ada_events] == ["secret.create"]
    events = ada.get("/api/secrets/openai/history").json["events"]
    assert [{k: v for k, v in e.items() if k != "at"} for e in events] == [
        {"action": "create", "outcome": "ok", "version": 1, "detail": None}]
    # the row and its audit line each take the clock once: a second may tick between them
    created = ada.get("/api/secrets/openai").json["secret"]["created_at"]
    apart = dt.datetime.fromisoformat(events[0]["at"]) - dt.datetime.fromisoformat(created)
    assert abs(apart) <= dt.timedelta(seconds=1)


def test_lists_show_only_ones_own(ada_secret, ada, bob):
    assert bob.get("/api/secrets").json == {"secrets": []}
    assert not any(p["has_secret"] for p in bob.get("/api/providers").json["providers"])
    page = bob.get("/secrets").get_data(as_text=True)
    assert "sk-…0001" not in page and "A provider secret is your API key" in page


def test_same_provider_names_are_per_user(ada_secret, ada, bob, db):
    mine = bob.post("/api/secrets", json={"provider": "openai", "api_key": "sk-bob-own-key-0000000b"})
    assert mine.status_code == 201 and mine.json["secret"]["version"] == 1
    assert bob.delete("/api/secrets/openai").status_code == 204
    with db():
        assert ProviderSecret.get().__data__ == ada_secret
    assert ada.get("/api/secrets/openai").json["secret"]["key_preview"] == "sk-…0001"


@pytest.mark.parametrize("name", ["nope", "%00", "open%0Aai", "x" * 300, "%C3%A9t%C3%A9"])
def test_odd_provider_names_are_404_and_still_audited(ada, db, name):
    for method, path in (("get", f"/api/secrets/{name}"), ("delete", f"/api/secrets/{name}"),
                         ("post", f"/api/secrets/{name}/check"), ("get", f"/api/secrets/{name}/history")):
        response = getattr(ada, method)(path)
        assert response.status_code == 404 and response.json["error"]["code"] == "not_found", path
    with db():
        denied = list(AuditEvent.select().where(AuditEvent.outcome == "denied"))
    assert len(denied) == 4
    assert all(e.subject.startswith("secret:") and e.subject.isprintable() and e.subject.isascii()
               for e in denied)
