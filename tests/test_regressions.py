"""Inputs that once reached a 500 (found by schemathesis) and the 4xx they get now."""
import pytest

from tests.helpers import PASSWORD, token_for


@pytest.mark.parametrize("body", [
    {"model_id": "x", "messages": [{"role": {}, "content": "x"}]},
    {"model_id": "x", "messages": [{"role": ["user"], "content": "x"}]},
])
def test_unhashable_role(ada, body):
    assert ada.post("/api/chat", json=body).status_code == 400


def test_expiry_pushed_out_of_range_by_its_offset(ada):
    answer = ada.post("/api/secrets", json={"provider": "openai", "api_key": "sk-valid-key-123456",
                                            "expires_at": "0001-01-01T00:00:00+01:00"})
    assert answer.status_code == 400 and answer.json["error"]["code"] == "invalid_expires_at"


def test_usage_days_must_be_ascii_digits(ada):
    assert ada.get("/api/usage?days=²").status_code == 400
    assert ada.get("/api/usage?days=٣").status_code == 400
    assert ada.get("/api/usage?days=7").status_code == 200


def test_unsplittable_base_url(ada):
    answer = ada.post("/api/models", json={"name": "x", "provider": "custom", "model_id": "m",
                                           "base_url": "http://[::1"})
    assert answer.status_code == 400 and answer.json["error"]["code"] == "invalid_base_url"


@pytest.mark.parametrize("field, value", [("auth_type", False), ("auth_type", 0), ("auth_type", []),
                                          ("base_url", False), ("base_url", {})])
def test_falsy_values_are_not_taken_as_defaults(ada, field, value):
    answer = ada.post("/api/models", json={"name": "x", "provider": "openai", "model_id": "m", field: value})
    assert answer.status_code == 400
    assert ada.post("/api/models/test", json={"provider": "openai", "api_key": False}).status_code == 400


@pytest.mark.parametrize("extra", [{"stream": "no"}, {"stream": 1}, {"stream_options": "x"},
                                   {"stream": True, "stream_options": "x"}, {"n": True}, {"n": 2}])
def test_v1_fields_are_typed_not_truthy(app, ada, extra):
    ada.post("/api/models", json={"name": "m", "provider": "ollama", "model_id": "x"})
    client = app.test_client()
    answer = client.post("/v1/chat/completions", headers={"Authorization": f"Bearer {token_for(app, 'ada@example.com')}"},
                         json={"model": "m", "messages": [{"role": "user", "content": "x"}], **extra})
    assert answer.status_code == 400 and answer.json["error"]["type"] == "invalid_request_error"


def test_405_names_the_allowed_methods(ada):
    answer = ada.put("/api/providers")
    assert answer.status_code == 405 and answer.headers["Allow"]


def test_password_guessing_on_the_account_page_is_limited(ada):
    statuses = [ada.post("/account/password", data={"current_password": "wrong guess here",
                                                    "new_password": "a new password 1", "confirm": "a new password 1"},
                         headers={"HX-Request": "true"}).status_code for _ in range(6)]
    assert statuses[-1] == 429 and all(s >= 400 for s in statuses)


def test_form_mistakes_made_with_the_right_password_do_not_use_up_the_limit(ada):
    too_short = {"current_password": PASSWORD, "new_password": "short", "confirm": "short"}
    statuses = [ada.post("/account/password", data=too_short, headers={"HX-Request": "true"}).status_code
                for _ in range(6)]
    assert statuses == [422] * 6
    good = {"current_password": PASSWORD, "new_password": "a new password 1", "confirm": "a new password 1"}
    assert ada.post("/account/password", data=good, headers={"HX-Request": "true"}).status_code == 200
