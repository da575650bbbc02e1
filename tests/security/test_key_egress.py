"""A key goes only where its owner allowed. A thief holding an API token, or a stolen session
(cookie and CSRF token, not the password), tries every route that can carry a stored key to a
host of theirs: a second fake server on 127.0.0.2 that records whatever reaches it."""
import pytest

from tests.fake_provider import FakeProvider
from tests.helpers import PASSWORD, make_user, sign_in, token_for
from vault import create_app, crypto
from vault.db import AuditEvent, LLMModel, ProviderSecret, database

SECRET, OWN_KEY, ANTHROPIC_KEY = "sk-egress-provider-0001", "sk-egress-own-key-0002", "sk-ant-egress-0003"
CHAT = {"messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture(scope="module")
def attacker():
    server = FakeProvider("127.0.0.2").start()
    yield server
    server.stop()


@pytest.fixture
def vault_app(app_config, fake_provider, attacker):
    attacker.reset()
    app = create_app({**app_config, "VAULT_UPSTREAM_TIMEOUT": 2.0, "VAULT_PROVIDER_BASE_URLS":
                      f"openai={fake_provider.openai_base},anthropic={fake_provider.anthropic_base}"})
    make_user(app, "ada@example.com")
    return app


@pytest.fixture
def ada(vault_app):
    client = sign_in(vault_app.test_client(), "ada@example.com")
    for provider, key in (("openai", SECRET), ("anthropic", ANTHROPIC_KEY)):
        assert client.post("/api/secrets", json={"provider": provider, "api_key": key}).status_code == 201
    return client


@pytest.fixture(params=["token", "session"])
def thief(request, vault_app, ada):
    """What the attacker holds: ada's API token (with every scope, as old tokens have), or her
    signed-in session itself."""
    if request.param == "session":
        return ada
    client = vault_app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token_for(vault_app, 'ada@example.com')}"
    return client


def model(client, name, **fields):
    answer = client.post("/api/models", json={"name": name, "provider": "openai", "model_id": "echo", **fields})
    assert answer.status_code == 201, answer.json
    return answer.json["model"]["id"]


def refused(answer, code, status=403):
    assert answer.status_code == status, answer.get_data(as_text=True)[:300]
    assert answer.json["error"]["code"] == code, answer.json
    return answer


def chats(client, ref):
    """Every chat route this client can reach with a model reference."""
    answers = [client.post("/api/chat", json={"model_id": ref, "stream": stream, **CHAT}) for stream in (False, True)]
    if "HTTP_AUTHORIZATION" in client.environ_base:
        answers += [client.post("/v1/chat/completions", json={"model": ref, "stream": stream, **CHAT})
                    for stream in (False, True)]
    return answers


def assert_nothing_arrived(attacker):
    assert attacker.calls == [], f"a request reached the attacker's host: {attacker.keys_seen()}"


def test_a_model_pointed_at_the_thiefs_host_cannot_chat_with_the_provider_secret(thief, attacker):
    stolen = model(thief, "exfil", base_url=attacker.openai_base)
    for answer in chats(thief, "exfil") + chats(thief, stolen):
        refused(answer, "host_not_allowed")
        assert "127.0.0.2" in answer.json["error"]["message"] and "Secrets page" in answer.json["error"]["message"]
    assert_nothing_arrived(attacker)


def test_no_wire_of_v1_carries_the_key_to_the_thiefs_host(vault_app, ada, attacker):
    client = vault_app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token_for(vault_app, 'ada@example.com')}"
    model(client, "exfil", base_url=attacker.openai_base)
    for path, body in (("/v1/responses", {"input": "hello"}), ("/v1/embeddings", {"input": "hello"}),
                       ("/v1/messages", {"max_tokens": 16, **CHAT})):
        for stream in (False, True) if path != "/v1/embeddings" else (None,):
            streaming = {} if stream is None else {"stream": stream}
            answer = client.post(path, json={"model": "exfil", **streaming, **body})
            assert answer.status_code == 403 and "127.0.0.2" in answer.get_data(as_text=True), path
    assert_nothing_arrived(attacker)


def test_moving_a_relying_model_to_the_thiefs_host_cannot_chat(thief, ada, attacker, fake_provider):
    mid = model(ada, "relying")
    assert thief.patch(f"/api/models/{mid}", json={"base_url": attacker.openai_base}).status_code == 200
    for answer in chats(thief, "relying"):
        refused(answer, "host_not_allowed")
    refused(thief.post(f"/api/models/{mid}/test"), "host_not_allowed")
    assert_nothing_arrived(attacker)
    assert fake_provider.calls == []  # refused before any connection, to anyone


@pytest.mark.parametrize("provider,auth_type", [("openai", None), ("anthropic", "bearer"), ("anthropic", None)])
def test_test_connection_before_saving_cannot_send_a_stored_key_to_the_thief(thief, attacker, provider, auth_type):
    base = attacker.anthropic_base if provider == "anthropic" else attacker.openai_base
    body = {"provider": provider, "model_id": "x", "base_url": base, **({"auth_type": auth_type} if auth_type else {})}
    refused(thief.post("/api/models/test", json=body), "host_not_allowed")
    assert_nothing_arrived(attacker)


def test_the_test_connection_form_cannot_send_the_key_either(ada, attacker):
    page = ada.post("/models/test", headers={"HX-Request": "true"}, data={
        "mode": "manual", "provider": "openai", "model_id": "x", "base_url": attacker.openai_base,
        "auth_type": "bearer"})
    assert "may not be sent to 127.0.0.2" in page.get_data(as_text=True)
    assert_nothing_arrived(attacker)


def test_a_models_own_key_does_not_follow_it_to_another_host(thief, ada, attacker, fake_provider):
    mid = model(ada, "own", api_key=OWN_KEY)
    refused(thief.patch(f"/api/models/{mid}", json={"base_url": attacker.openai_base}), "key_rebind_required", 409)
    assert ada.get(f"/api/models/{mid}").json["model"]["base_url"] == fake_provider.openai_base  # unchanged
    assert thief.post("/api/chat", json={"model_id": "own", **CHAT}).status_code == 200
    assert_nothing_arrived(attacker)
    assert fake_provider.keys_seen() == [OWN_KEY]
    # with a key of their own, the model may move: the thief gets only what they typed
    moved = thief.patch(f"/api/models/{mid}", json={"base_url": attacker.openai_base, "api_key": "sk-thiefs-own-9"})
    assert moved.status_code == 200
    thief.post("/api/chat", json={"model_id": "own", **CHAT})
    assert attacker.keys_seen() == ["sk-thiefs-own-9"]


def test_a_token_cannot_widen_where_a_key_may_go(vault_app, ada, attacker):
    client = vault_app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token_for(vault_app, 'ada@example.com')}"
    widen = {"allowed_hosts": ["127.0.0.2"], "password": PASSWORD}
    refused(client.put("/api/secrets/openai", json=widen), "session_required")
    assert ada.get("/api/secrets/openai").json["secret"]["allowed_hosts"] != ["127.0.0.2"]


@pytest.mark.parametrize("password", [None, "", "not the password"])
def test_a_stolen_session_cannot_widen_where_a_key_may_go_without_the_password(ada, password):
    before = ada.get("/api/secrets/openai").json["secret"]
    body = {"allowed_hosts": ["127.0.0.2"], **({"password": password} if password is not None else {})}
    refused(ada.put("/api/secrets/openai", json=body), "reauthentication_required")
    assert ada.get("/api/secrets/openai").json["secret"] == before


def test_a_wrong_password_for_allowed_hosts_counts_against_the_sign_in_limit(ada):
    body = {"allowed_hosts": ["127.0.0.2"], "password": "guess"}
    statuses = [ada.put("/api/secrets/openai", json=body).status_code for _ in range(6)]
    assert statuses == [403] * 5 + [429]


def test_the_owner_allows_a_host_with_the_password_and_it_is_audited(ada, attacker, fake_provider):
    before = ada.get("/api/secrets/openai").json["secret"]
    host, theirs = (server.openai_base.split("/")[2] for server in (fake_provider, attacker))
    assert before["allowed_hosts"] == [host]
    allowed = ada.put("/api/secrets/openai", json={"allowed_hosts": [host, theirs], "password": PASSWORD,
                                                   "expected_version": before["version"]})
    assert allowed.status_code == 200, allowed.json
    assert allowed.json["secret"]["allowed_hosts"] == [host, theirs]
    assert allowed.json["secret"]["version"] == before["version"] + 1
    event = ada.get("/api/secrets/openai/history").json["events"][0]
    assert (event["action"], event["outcome"], event["detail"]) == ("allow_hosts", "ok", f"{host} {theirs}")
    model(ada, "elsewhere", base_url=attacker.openai_base)
    assert ada.post("/api/chat", json={"model_id": "elsewhere", **CHAT}).status_code == 200
    assert attacker.keys_seen() == [SECRET]  # now it may go there: the owner said so


def test_a_host_allowed_without_a_port_does_not_get_the_key_over_plain_http(thief, ada, attacker, fake_provider):
    """Found after the review: a host named without a port allowed http:// to it as well, so a
    thief could point a model at an allowed host over plain http and the key crossed the network
    unencrypted. Without a port a pattern allows https only; naming the port is the owner's say."""
    host = fake_provider.openai_base.split("/")[2]
    assert ada.put("/api/secrets/openai", json={"allowed_hosts": [host, "127.0.0.2"],
                                                "password": PASSWORD}).status_code == 200
    mid = model(thief, "cleartext", base_url=attacker.openai_base)  # http://127.0.0.2:<port>/v1
    for answer in chats(thief, "cleartext") + [thief.post(f"/api/models/{mid}/test")]:
        refused(answer, "host_not_allowed")
        assert "plain http" in answer.json["error"]["message"].lower(), answer.json
    assert_nothing_arrived(attacker)


def test_a_models_own_key_cannot_be_moved_from_https_to_plain_http_on_the_same_port(thief, ada, attacker):
    """Found by the attack session on the https-only rule: the move check compared host:port, so
    https://h:443 and http://h:443 looked like one place and a token moved an own key to cleartext."""
    base = attacker.openai_base.replace("http://", "https://")
    mid = model(ada, "own-tls", api_key=OWN_KEY, base_url=base)
    refused(thief.patch(f"/api/models/{mid}", json={"base_url": attacker.openai_base}), "key_rebind_required", 409)
    assert ada.get(f"/api/models/{mid}").json["model"]["base_url"] == base
    assert_nothing_arrived(attacker)


@pytest.mark.parametrize("url, patterns", [
    ("https://api.openai.com/v1", ["api.openai.com"]),
    ("https://gw.corp:8443/v1", ["gw.corp"]),            # found by the attack session: was gw.corp:8443,
    ("http://gw.corp/v1", ["gw.corp:80"]),               # which opened plain http on that port
    ("http://127.0.0.1:11434/v1", ["127.0.0.1:11434"]),
    ("https://{resource}.openai.azure.com/openai/v1", ["*.openai.azure.com"])])
def test_a_default_url_allows_its_own_scheme_only(url, patterns):
    from vault import hosts
    assert hosts.default_for(url) == patterns
    assert hosts.pattern_for(url.replace("{resource}", "res")) == patterns[0].replace("*", "res")


@pytest.mark.parametrize("patterns, url, allowed", [
    (["api.openai.com"], "https://api.openai.com/v1", True),
    (["api.openai.com"], "https://api.openai.com:8443/v1", True),
    (["api.openai.com"], "http://api.openai.com/v1", False),
    (["*.openai.azure.com"], "http://res.openai.azure.com/openai/v1", False),
    (["api.openai.com:80"], "http://api.openai.com/v1", True),
    (["llm.lan:8080"], "http://llm.lan:8080/v1", True),
    (["llm.lan:8080"], "http://llm.lan:8081/v1", False),
    (["api.openai.com:80"], "http://api.openai.com:0/v1", False)])  # port 0: nothing to connect to
def test_a_host_without_a_port_allows_https_only(patterns, url, allowed):
    from vault import hosts
    assert hosts.allows(patterns, url) is allowed


@pytest.mark.parametrize("hosts,named", [
    (["https://api.openai.com"], "is a URL"), (["api.openai.com/v1"], "is a URL"), ([""], "is not a host"),
    (["*"], "too much"), (["*com"], "too much"), (["a" * 254], "longer than 253"), ([], "at least one"),
    ([f"h{n}.example.com" for n in range(21)], "at most 20"), ("", "at least one"), ([7], "list of host"),
    (["host:99999"], "outside 1 to 65535"), (["bad host"], "not a host")])
def test_malformed_host_patterns_are_refused_with_the_field_named(ada, hosts, named):
    before = ada.get("/api/secrets/openai").json["secret"]
    answer = refused(ada.put("/api/secrets/openai", json={"allowed_hosts": hosts, "password": PASSWORD}),
                     "invalid_allowed_hosts", 400)
    assert named in answer.json["error"]["message"] and "allowed_hosts" in answer.json["error"]["message"]
    assert ada.get("/api/secrets/openai").json["secret"] == before


def test_a_custom_secret_must_say_where_it_may_go(ada):
    refused(ada.post("/api/secrets", json={"provider": "custom", "api_key": "sk-custom-0123456789"}),
            "allowed_hosts_required", 400)
    made = ada.post("/api/secrets", json={"provider": "custom", "api_key": "sk-custom-0123456789",
                                          "allowed_hosts": ["LLM.example.com:8443", "*.corp.example"],
                                          "password": PASSWORD})
    assert made.status_code == 201 and made.json["secret"]["allowed_hosts"] == ["llm.example.com:8443",
                                                                                "*.corp.example"]


def test_every_test_and_check_is_audited_with_key_source_and_host(vault_app, ada, attacker, fake_provider):
    host = fake_provider.openai_base.split("/")[2]
    mid = model(ada, "relying")
    assert ada.post(f"/api/models/{mid}/test").json["ok"] is True
    ada.post("/api/models/test", json={"provider": "openai", "model_id": "echo", "base_url": attacker.openai_base})
    ada.post("/api/secrets/openai/check")
    with vault_app.app_context(), database.connection_context():
        rows = {(e.action, e.subject, e.outcome, e.detail) for e in AuditEvent.select()}
        used = ProviderSecret.get(ProviderSecret.provider == "openai").last_used_at
    assert ("model.test", f"model:{mid}", "ok", f"provider_secret → {host}") in rows
    assert ("model.test", "model:unsaved", "host_not_allowed", "→ 127.0.0.2:" + attacker.openai_base.split(":")[2]
            .split("/")[0]) in rows
    assert ("secret.check", "secret:openai", "ok", f"provider_secret → {host}") in rows
    assert used is not None


@pytest.mark.parametrize("use", ["saved test", "unsaved test", "check"])
def test_each_test_and_check_moves_last_used(vault_app, ada, use):
    def last_used():
        with vault_app.app_context(), database.connection_context():
            return ProviderSecret.get(ProviderSecret.provider == "openai").last_used_at
    mid = model(ada, "relying")
    assert last_used() is None
    answer = {"saved test": lambda: ada.post(f"/api/models/{mid}/test"),
              "unsaved test": lambda: ada.post("/api/models/test", json={"provider": "openai", "model_id": "echo"}),
              "check": lambda: ada.post("/api/secrets/openai/check")}[use]()
    assert answer.status_code == 200 and answer.json["ok"] is True
    assert last_used() is not None


def test_a_thief_cannot_delete_a_secret_and_add_it_back_bound_to_their_host(thief, ada, attacker):
    """Found in review: deleting the secret and adding it again with allowed_hosts of one's own
    choosing needed neither the password nor a session. The owner's next rotation would then
    have sent the real key to the thief's host."""
    assert thief.delete("/api/secrets/openai").status_code == 204
    rebind = {"provider": "openai", "api_key": "sk-thiefs-placeholder-1", "allowed_hosts": ["127.0.0.2"]}
    refused(thief.post("/api/secrets", json=rebind),
            "session_required" if "HTTP_AUTHORIZATION" in thief.environ_base else "reauthentication_required")
    refused(thief.post("/api/secrets", json={**rebind, "password": "a guess"}),
            "session_required" if "HTTP_AUTHORIZATION" in thief.environ_base else "reauthentication_required")
    assert ada.get("/api/secrets/openai").status_code == 404  # nothing half-made
    # the provider's own host, or fewer hosts, are no choice of where the key goes: no password
    made = thief.post("/api/secrets", json={"provider": "openai", "api_key": "sk-owners-new-key-2"})
    assert made.status_code == 201
    model(ada, "elsewhere", base_url=attacker.openai_base)
    refused(ada.post("/api/chat", json={"model_id": "elsewhere", **CHAT}), "host_not_allowed")
    assert attacker.keys_seen() == []


def test_a_check_obeys_allowed_hosts_too(ada, fake_provider):
    """A check goes to the provider's default base URL; once the owner has narrowed the secret to
    other hosts, the check is refused like any other call, and the refusal is in the history."""
    assert ada.put("/api/secrets/openai", json={"allowed_hosts": ["llm.example.com"],
                                                "password": PASSWORD}).status_code == 200
    refused(ada.post("/api/secrets/openai/check"), "host_not_allowed")
    assert fake_provider.calls == []
    event = ada.get("/api/secrets/openai/history").json["events"][0]
    assert (event["action"], event["outcome"]) == ("check", "host_not_allowed")


BACKSLASHED = "https://evil.example\\.openai.azure.com/openai/v1"  # urllib3 ends the host at the "\"


def test_a_backslash_cannot_smuggle_another_host_past_a_wildcard_binding(ada):
    from vault import hosts
    assert not hosts.allows(["*.openai.azure.com"], BACKSLASHED)  # judged as the connection sees it
    assert ada.post("/api/secrets", json={"provider": "azure", "api_key": "azure-key-0123456789"}).status_code == 201
    saved = ada.post("/api/models", json={"name": "az", "provider": "azure", "model_id": "gpt",
                                          "base_url": BACKSLASHED})
    refused(saved, "invalid_base_url", 400)
    refused(ada.post("/api/models/test", json={"provider": "azure", "model_id": "gpt", "base_url": BACKSLASHED}),
            "invalid_base_url", 400)


@pytest.mark.parametrize("provider, patterns, widens", [
    ("openai", ["api.openai.com"], False),
    ("openai", ["API.openai.com:443"], True),  # a named port allows plain http there, the default only https
    ("openai", ["api.openai.com", "evil.example"], True), ("openai", ["*.openai.com"], True),
    ("azure", ["myres.openai.azure.com"], False), ("azure", ["*.eu.openai.azure.com"], False),
    ("azure", ["openai.azure.com"], True), ("azure", ["*.azure.com"], True),
    ("custom", ["llm.internal"], True)])
def test_only_hosts_beyond_the_providers_own_need_the_password(app, provider, patterns, widens):
    """Narrowing where a key may go (your own Azure resource) needs no password; widening does."""
    from vault.secrets.service import widens as needs_password
    with app.app_context():
        assert needs_password(provider, patterns) is widens


def test_a_move_racing_the_owners_new_own_key_does_not_carry_the_key_off(vault_app, ada, attacker, monkeypatch):
    """Found in review: the thief's move was checked against the model as read (no own key yet),
    the owner then saved an own key, and the move landed after it: the key bound to the thief's
    host. The write now lands only over the version its checks read; else it checks again."""
    from vault.models import service
    mid = model(ada, "relying")
    thief = vault_app.test_client()
    thief.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token_for(vault_app, 'ada@example.com')}"
    checked = service._refuse_silent_move

    def owner_saves_a_key_meanwhile(model_row, values, data):
        checked(model_row, values, data)
        if not model_row.api_key_encrypted:  # the first check passed on a keyless model: now the race
            LLMModel.update(api_key_encrypted=crypto.encrypt(OWN_KEY, model_row.aad), key_preview="sk-…0002",
                            version=LLMModel.version + 1).where(LLMModel.id == model_row.id).execute()
    monkeypatch.setattr(service, "_refuse_silent_move", owner_saves_a_key_meanwhile)
    moved = thief.patch(f"/api/models/{mid}", json={"base_url": attacker.openai_base})
    refused(moved, "key_rebind_required", 409)
    after = ada.get(f"/api/models/{mid}").json["model"]
    assert after["has_own_key"] and attacker.openai_base.split("/")[2] not in after["base_url"]
    assert ada.post("/api/chat", json={"model_id": "relying", **CHAT}).status_code == 200
    assert attacker.calls == []
