"""The /secrets page and its htmx fragments: status, root id, one answer per action, validation in the
form fragment (422), expiry warnings, and keys that are never echoed back."""
import datetime as dt
import re

import pytest

from tests.helpers import PASSWORD
from vault.db import LLMModel, ProviderSecret, User, utcnow

HX = {"HX-Request": "true"}
KEY = "sk-proj-abcdefghijklmnop9f2c"


def html(response):
    return response.get_data(as_text=True)


def root(response):
    """The fragment's first element, e.g. '<tr id="secret-openai" class="configured">'."""
    return re.search(r"<[a-z]+[^>]*>", html(response)).group(0)


def add(client, provider="openai", api_key=KEY, **form):
    return client.post(f"/secrets/{provider}", data={"api_key": api_key, **form}, headers=HX)


def make_models(db, provider="openai", without_key=2, with_key=1):
    with db():
        user = User.get(User.email == "ada@example.com")
        for n in range(without_key + with_key):
            LLMModel.create(user=user, name=f"{provider}-{n}", provider=provider, model_id="m",
                            base_url="https://example.invalid/v1", auth_type="bearer",
                            api_key_encrypted="v1.x.y" if n >= without_key else None)


def test_page_lists_every_provider_with_an_add_action_and_explains_itself(ada):
    response = ada.get("/secrets")
    body = html(response)
    assert response.status_code == 200 and "<html" in body and 'id="secret-rows"' in body
    assert "A provider secret is your API key for one provider" in body
    for provider in ("openai", "anthropic", "groq", "ollama", "custom"):
        assert f'id="secret-{provider}"' in body
    assert body.count(">Add key<span") == 13
    assert response.headers["Vary"] and "HX-Request" in response.headers["Vary"]


def test_rows_fragment_lists_configured_providers_first(ada):
    add(ada, "groq", "gsk_0123456789abcdef")
    response = ada.get("/secrets", headers=HX)
    body = html(response)
    assert response.status_code == 200 and root(response).startswith('<div id="secret-rows"')
    assert "<html" not in body and "hx-trigger" not in body  # the list never fetches itself again
    assert body.index('id="secret-groq"') < body.index('id="secret-openai"')
    assert "A provider secret is your API key" not in body  # the empty state is gone


def test_add_form_fragment_has_a_password_field(ada):
    response = ada.get("/secrets/openai/new", headers=HX)
    body = html(response)
    assert response.status_code == 200 and root(response).startswith('<tr id="secret-openai"')
    assert '<label for="openai-api-key">API key</label>' in body
    assert re.search(r'<input[^>]*id="openai-api-key"[^>]*type="password"', body)
    assert "OpenAI keys usually start with sk-" in body and ">Save" in body and ">Cancel<" in body
    assert "HX-Trigger" not in response.headers


LIST = {"HX-Retarget": "#secret-rows", "HX-Reswap": "outerHTML"}


def answers_with_the_list(response):
    """One round trip: the whole list, in place of the row that asked, and no event to fetch it."""
    assert {k: response.headers.get(k) for k in LIST} == LIST and "HX-Trigger" not in response.headers
    assert root(response) == '<div id="secret-rows">'


def test_create_answers_with_the_whole_list(ada):
    response = add(ada)
    body = html(response)
    assert response.status_code == 201
    answers_with_the_list(response)
    assert '<tr id="secret-openai" class="configured">' in body
    assert '<p class="flash flash-success" role="status">OpenAI key saved' in body  # it says it worked
    assert "sk-proj-…9f2c" in body and "sha256:" in body and "v1" in body
    assert KEY not in body and "usually start with" not in body
    assert ada.get("/api/secrets/openai").json["secret"]["version"] == 1


def test_create_warns_gently_when_the_key_does_not_look_like_the_providers(ada):
    body = html(add(ada, "anthropic", "sk-proj-notanthropic-0000"))
    assert "Anthropic keys usually start with sk-ant-" in body


@pytest.mark.parametrize("key, message", [
    ("", "must not be empty"), ("   ", "must not be empty"), ("sk-abc def-123456", "spaces"),
    ("sk-" + "x" * 4094, "longer than 4096"), ("sk-é-12345678901", "printable ASCII")])
def test_invalid_key_rerenders_the_form_with_422_without_echoing(ada, key, message):
    response = add(ada, api_key=key)
    body = html(response)
    assert response.status_code == 422 and root(response).startswith('<tr id="secret-openai"')
    assert message in body and 'aria-invalid="true"' in body and "HX-Trigger" not in response.headers
    assert not re.search(r'<input[^>]*type="password"[^>]*value="[^"]', body)
    if key.strip():
        assert key not in body
    assert ada.get("/api/secrets").json["secrets"] == []


def test_invalid_expiry_rerenders_the_form_without_the_key(ada):
    response = add(ada, expires_at="31/12/2030")
    assert response.status_code == 422 and "Not a valid date" in html(response)
    assert KEY not in html(response)


def test_an_expiry_date_is_the_end_of_that_day_where_the_user_is(ada):
    add(ada, expires_at="2031-05-06")  # no time zone said: UTC
    assert ada.get("/api/secrets/openai").json["secret"]["expires_at"] == "2031-05-07T00:00:00Z"
    add(ada, "groq", "gsk_0123456789abcdef", expires_at="2031-05-06", utc_offset="120")  # UTC+2
    assert ada.get("/api/secrets/groq").json["secret"]["expires_at"] == "2031-05-06T22:00:00Z"
    assert "2031-05-06" in ada.get("/secrets").get_data(as_text=True)  # shown as the last day it works


def test_today_is_accepted_and_a_past_day_refused_with_a_message(ada):
    today = dt.datetime.now(dt.timezone.utc).date()
    past = add(ada, expires_at=(today - dt.timedelta(days=1)).isoformat())
    assert past.status_code == 422 and "That day is over where you are" in html(past)
    assert ada.get("/api/secrets/openai").status_code == 404
    assert add(ada, expires_at=today.isoformat(), utc_offset="0").status_code == 201
    secret = ada.get("/api/secrets/openai").json["secret"]
    assert secret["expires_at"] > dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_rotate_form_and_rotation(ada):
    add(ada)
    form = ada.get("/secrets/openai/rotate", headers=HX)
    body = html(form)
    assert form.status_code == 200 and root(form).startswith('<tr id="secret-openai" class="inline-form"')
    assert 'name="expected_version" type="hidden" value="1"' in body and "replaces sk-proj-…9f2c" in body
    response = ada.post("/secrets/openai/rotate", headers=HX,
                        data={"api_key": "sk-rotated-0000000000a1b2", "expected_version": "1"})
    assert response.status_code == 200
    answers_with_the_list(response)
    assert "sk-…a1b2" in html(response) and "v2" in html(response)
    assert "sk-rotated-0000000000a1b2" not in html(response)


def test_new_on_a_configured_provider_offers_the_rotation(ada):
    add(ada)
    assert 'name="expected_version"' in html(ada.get("/secrets/openai/new", headers=HX))


def test_rotate_with_a_stale_version_shows_the_conflict_in_the_form(ada):
    add(ada)
    ada.put("/api/secrets/openai", json={"api_key": "sk-other-tab-00000000"})
    response = ada.post("/secrets/openai/rotate", headers=HX,
                        data={"api_key": "sk-this-tab-000000000", "expected_version": "1"})
    body = html(response)
    assert response.status_code == 422 and "changed in another tab" in body
    assert 'name="expected_version" type="hidden" value="2"' in body  # saving again replaces v2
    assert "sk-this-tab-000000000" not in body
    assert ada.get("/api/secrets/openai").json["secret"]["key_preview"] == "sk-…0000"
    again = ada.post("/secrets/openai/rotate", headers=HX,
                     data={"api_key": "sk-this-tab-00000000b", "expected_version": "2"})
    assert again.status_code == 200 and "v3" in html(again)


def test_rotate_form_changes_only_the_expiry_when_the_key_is_blank(ada):
    add(ada)
    nothing = ada.post("/secrets/openai/rotate", headers=HX, data={"api_key": "", "expected_version": "1"})
    assert nothing.status_code == 422 and "Enter a new key, or change the expiry date." in html(nothing)
    response = ada.post("/secrets/openai/rotate", headers=HX,
                        data={"api_key": "", "expires_at": "2035-01-02", "expected_version": "1"})
    assert response.status_code == 200
    secret = ada.get("/api/secrets/openai").json["secret"]
    assert secret["expires_at"] == "2035-01-03T00:00:00Z" and secret["key_preview"] == "sk-proj-…9f2c"
    cleared = ada.post("/secrets/openai/rotate", headers=HX,
                       data={"api_key": "", "expires_at": "", "expected_version": "2"})
    assert cleared.status_code == 200 and ada.get("/api/secrets/openai").json["secret"]["expires_at"] is None


def test_delete_answers_with_the_list_and_the_empty_state(ada):
    add(ada)
    response = ada.delete("/secrets/openai", headers=HX)
    assert response.status_code == 200
    answers_with_the_list(response)
    assert '<tr id="secret-openai" class="unconfigured">' in html(response)
    assert "A provider secret is your API key" in html(response)
    assert ada.get("/api/secrets/openai").status_code == 404
    assert ada.delete("/secrets/openai", headers=HX).status_code == 404


def test_delete_confirmation_says_how_many_models_lose_their_key(ada, db):
    make_models(db, without_key=2, with_key=1)
    body = html(add(ada))
    assert "used by 2 models" in body
    assert 'hx-confirm="Delete your OpenAI key? 2 models will lose their key."' in body
    make_models(db, "groq", without_key=1, with_key=0)
    page = html(ada.get("/secrets"))
    assert "1 model of yours is waiting for one" in page
    add(ada, "groq", "gsk_0123456789abcdef")
    assert "1 model will lose its key" in html(ada.get("/secrets/groq", headers=HX))


def test_row_fragment_and_cancel(ada):
    response = ada.get("/secrets/openai", headers=HX)
    assert response.status_code == 200 and root(response).startswith('<tr id="secret-openai" class="unconfigured"')
    assert ">Add key<span" in html(response)
    outside = ada.get("/secrets/openai")  # a fragment URL opened in a tab lands on the page
    assert outside.status_code == 302 and outside.headers["Location"].endswith("/secrets#secret-openai")


def test_history_fragment(ada):
    add(ada)
    ada.put("/api/secrets/openai", json={"api_key": "sk-rotated-0000000000a1b2"})
    response = ada.get("/secrets/openai/history", headers=HX)
    body = html(response)
    assert response.status_code == 200 and root(response).startswith('<details id="secret-openai-history"')
    assert body.index("rotated (v2)") < body.index("added (v1)")


def test_unknown_provider_is_404_on_every_fragment_route(ada):
    for method, path in (("get", "/secrets/nope"), ("get", "/secrets/nope/new"), ("post", "/secrets/nope"),
                         ("get", "/secrets/nope/rotate"), ("post", "/secrets/nope/rotate"),
                         ("delete", "/secrets/nope"), ("post", "/secrets/nope/check"),
                         ("get", "/secrets/nope/history")):
        response = getattr(ada, method)(path, headers=HX, data={"api_key": KEY})
        assert response.status_code == 404 and 'class="flash flash-error"' in html(response), path


def test_expired_and_expiring_secrets_are_flagged(ada, db):
    add(ada)
    add(ada, "anthropic", "sk-ant-0123456789abcdef")
    add(ada, "groq", "gsk_0123456789abcdef", expires_at="2099-01-01")
    with db():
        now = utcnow()
        ProviderSecret.update(expires_at=now - dt.timedelta(days=1)).where(ProviderSecret.provider == "openai").execute()
        ProviderSecret.update(expires_at=now + dt.timedelta(days=3)).where(ProviderSecret.provider == "anthropic").execute()
    page = html(ada.get("/secrets"))
    assert "Expired, so no longer used: OpenAI" in page and "Expiring within 7 days: Anthropic" in page
    assert '<span class="badge badge-bad">expired</span>' in page
    assert re.search(r"expires <time[^>]*>in 3 days</time>", page) and "2099-01-01" in page


def test_unauthenticated_htmx_request_is_sent_to_login(client):
    response = client.get("/secrets", headers=HX)
    assert response.status_code == 401 and response.headers["HX-Redirect"] == "/login?signed_out=1"
    assert client.get("/secrets").status_code == 302


def test_no_stored_key_in_any_attribute(ada):
    add(ada)
    for path in ("/secrets", "/secrets/openai/rotate", "/secrets/openai", "/secrets/openai/history"):
        body = html(ada.get(path, headers=HX if path != "/secrets" else {}))
        assert KEY not in body and "abcdefghijklmnop" not in body, path
        assert not re.search(r"\son[a-z]+=|hx-on|<script(?![^>]*src=)", body), path


def test_adding_a_key_another_tab_added_offers_its_rotation_in_place(ada):
    assert add(ada).status_code == 201
    again = add(ada, api_key="sk-second-tab-0000000000")
    body = html(again)
    assert again.status_code == 200 and "was added meanwhile, in another tab" in body
    assert 'hx-post="/secrets/openai/rotate"' in body and "sk-proj-…9f2c" in body
    assert "PUT /api" not in body and "sk-second-tab" not in body
    assert ada.get("/api/secrets/openai").json["secret"]["key_preview"] == "sk-proj-…9f2c"


def test_fragment_writes_need_the_csrf_token(ada):
    del ada.environ_base["HTTP_X_CSRFTOKEN"]
    assert add(ada).status_code == 403
    assert ada.delete("/secrets/openai", headers=HX).status_code == 403


def test_allowed_hosts_change_inline_only_with_the_password(ada, db):
    add(ada)
    form = ada.get("/secrets/openai/hosts", headers=HX)
    assert form.status_code == 200 and 'id="openai-allowed-hosts"' in html(form)
    assert 'value="api.openai.com"' in html(form) and 'type="password"' in html(form)

    wrong = ada.post("/secrets/openai/hosts", headers=HX,
                     data={"allowed_hosts": "api.openai.com llm.example.com", "password": "not it"})
    assert wrong.status_code == 422 and "The password is wrong" in html(wrong)
    assert 'value="api.openai.com llm.example.com"' in html(wrong)  # what was typed, to try again
    bad = ada.post("/secrets/openai/hosts", headers=HX, data={"allowed_hosts": "https://x.example", "password": "x"})
    assert bad.status_code == 422 and "is a URL" in html(bad)
    with db():
        assert ProviderSecret.get().allowed_hosts == "api.openai.com"

    from tests.helpers import PASSWORD
    done = ada.post("/secrets/openai/hosts", headers=HX,
                    data={"allowed_hosts": "api.openai.com, llm.example.com", "password": PASSWORD})
    assert done.status_code == 200
    answers_with_the_list(done)
    assert "<code>llm.example.com</code>" in html(done)
    with db():
        assert ProviderSecret.get().allowed_hosts == "api.openai.com llm.example.com"


def test_adding_a_custom_key_asks_where_it_may_go(ada, db):
    form = ada.get("/secrets/custom/new", headers=HX)
    assert 'id="custom-allowed-hosts"' in html(form)
    missing = add(ada, "custom", allowed_hosts="")
    assert missing.status_code == 422 and "at least one host" in html(missing)
    unconfirmed = add(ada, "custom", allowed_hosts="llm.internal:8443")
    assert unconfirmed.status_code == 422 and "password" in html(unconfirmed)
    assert add(ada, "custom", allowed_hosts="llm.internal:8443", password=PASSWORD).status_code == 201
    with db():
        assert ProviderSecret.get().allowed_hosts == "llm.internal:8443"


def test_adding_a_key_for_hosts_beyond_the_providers_own_takes_the_password(ada, db):
    """A stolen session could delete a key and add it back bound to the thief's host."""
    form = html(ada.get("/secrets/openai/new", headers=HX))
    assert 'id="openai-password"' in form and "Needed for hosts beyond api.openai.com" in form
    wide = add(ada, "openai", allowed_hosts="api.openai.com evil.example", password="a guess")
    assert wide.status_code == 422 and "The password is wrong" in html(wide)
    with db():
        assert ProviderSecret.select().count() == 0
    assert add(ada, "openai", allowed_hosts="api.openai.com").status_code == 201  # the default: no password


def test_a_custom_key_checked_without_a_url_is_not_shown_as_broken(ada):
    assert add(ada, "custom", allowed_hosts="llm.internal:8443", password=PASSWORD).status_code == 201
    checked = html(ada.post("/secrets/custom/check", headers=HX))
    assert '<span class="badge badge-info">no base URL</span>' in checked and "badge-bad" not in checked


def test_someone_elses_wrong_passwords_do_not_block_adding_a_key(app, ada):
    """The add form always carries its (empty) password field: that is no guess to count."""
    from tests.helpers import csrf_from
    stranger = app.test_client()
    for _ in range(6):
        stranger.post("/login", data={"email": "ada@example.com", "password": "wrong guess!",
                                      "csrf_token": csrf_from(stranger.get("/login"))})
    assert add(ada, allowed_hosts="api.openai.com", password="").status_code == 201
