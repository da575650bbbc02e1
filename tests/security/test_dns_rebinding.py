"""DNS rebinding under VAULT_BASE_URL_POLICY=public: a name that resolved to a public address
when its model was saved resolves to 127.0.0.1 (the fake provider) when it is used. Every
connection checks the addresses it is about to use; under the default policy nothing changes."""
import json
import socket
from dataclasses import replace
from urllib.parse import urlsplit

import pytest

from tests.helpers import make_user, sign_in, token_for
from vault import create_app, llm, urls
from vault.llm import http
from vault.urls import BadURL, NotPublic, check_base_url, is_public

REBIND = "llm.rebind.test"  # .test never resolves for real: the resolver below answers *.rebind.test
PUBLIC = "93.184.215.14"
KEY = "sk-test-REBIND-0000"
SECRET_KEY = "sk-test-REBIND-SECRET-1111"
MESSAGES = [{"role": "user", "content": "hello"}]


class Resolver:
    """socket.getaddrinfo as the test decides: names under rebind.test answer `addresses` (it
    counts how often); every other name is resolved for real."""

    def __init__(self, real):
        self.real, self.addresses, self.asked = real, [PUBLIC], 0

    def __call__(self, host, port, *args, **kwargs):
        if not host.endswith(".rebind.test"):
            return self.real(host, port, *args, **kwargs)
        self.asked += 1
        return [info for address in self.addresses for info in self.real(address, port, *args, **kwargs)]


@pytest.fixture
def resolver(monkeypatch):
    fake = Resolver(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", fake)  # ours and urllib3's lookups alike
    return fake


def rebound_base(fake_provider):
    return f"http://{REBIND}:{urlsplit(fake_provider.openai_base).port}/openai/v1"


def saved(app_config, fake_provider, resolver, policy):
    """(policy, app, session client, token, model id): a model with its own key and a provider
    secret saved while REBIND resolved to a public address; afterwards REBIND is 127.0.0.1."""
    app = create_app({**app_config, "VAULT_BASE_URL_POLICY": policy, "VAULT_UPSTREAM_TIMEOUT": 2.0,
                      "VAULT_PROVIDER_BASE_URLS": f"openai={rebound_base(fake_provider)}"})
    make_user(app, "ada@example.com")
    ada = sign_in(app.test_client(), "ada@example.com")
    model = ada.post("/api/models", json={"name": "rebound", "provider": "openai", "model_id": "echo",
                                          "base_url": rebound_base(fake_provider), "api_key": KEY})
    assert model.status_code == 201, model.json
    assert ada.post("/api/secrets", json={"provider": "openai", "api_key": SECRET_KEY}).status_code == 201
    resolver.addresses, resolver.asked = ["127.0.0.1"], 0
    return policy, app, ada, token_for(app, "ada@example.com"), model.json["model"]["id"]


@pytest.fixture(params=["public", "any"])
def rebound(request, app_config, fake_provider, resolver):
    return saved(app_config, fake_provider, resolver, request.param)


@pytest.fixture
def rebound_public(app_config, fake_provider, resolver):
    return saved(app_config, fake_provider, resolver, "public")


CHATS = [("/api/chat", "session", False), ("/api/chat", "session", True), ("/api/chat", "token", True),
         ("/v1/chat/completions", "token", False), ("/v1/chat/completions", "token", True)]


def send_chat(app, ada, token, path, auth, stream):
    field = "model_id" if path == "/api/chat" else "model"
    client, headers = ada, {}
    if auth == "token":  # a program's path
        client, headers = app.test_client(), {"Authorization": f"Bearer {token}"}
    return client.post(path, buffered=True, headers=headers,
                       json={field: "rebound", "messages": MESSAGES, "stream": stream})


def sse_data(response):
    lines = response.get_data(as_text=True).split("\n")
    return [json.loads(line[6:]) for line in lines if line.startswith("data: ") and line != "data: [DONE]"]


@pytest.mark.parametrize("path, auth, stream", CHATS)
def test_chat_to_a_rebound_host(rebound, fake_provider, caplog, path, auth, stream):
    policy, app, ada, token, _ = rebound
    response = send_chat(app, ada, token, path, auth, stream)
    text = response.get_data(as_text=True)
    assert KEY not in text and KEY not in caplog.text
    if policy == "any":  # as before: the name is looked up when connecting, whatever it says
        assert response.status_code == 200, text
        assert fake_provider.keys_seen() == [KEY]
        return
    assert fake_provider.calls == [] and fake_provider.connections == 0
    if path == "/api/chat" and stream:  # the stream has begun: it ends in one error event
        assert response.status_code == 200 and sse_data(response)[-1]["type"] == "error"
        error = sse_data(response)[-1]["error"]
    else:
        assert response.status_code == 403, text
        error = response.json["error"]
    assert error["code"] == "base_url_not_public"
    assert error["message"] == (f"This server only allows public base URLs; {REBIND} resolves to a "
                                "loopback, private or link-local address.")


def test_test_connection_of_the_saved_model(rebound, fake_provider):
    policy, _, ada, _, model_id = rebound
    result = ada.post(f"/api/models/{model_id}/test").json
    if policy == "any":
        assert result["ok"] is True and fake_provider.keys_seen() == [KEY]
        return
    assert result["ok"] is False and result["code"] == "base_url_not_public" and result["status"] is None
    assert "only allows public base URLs" in result["message"] and KEY not in str(result)
    fragment = ada.post(f"/models/{model_id}/test", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "only allows public base URLs" in fragment.get_data(as_text=True)
    assert fake_provider.calls == []


def test_secret_check(rebound, fake_provider):
    policy, _, ada, _, _ = rebound
    result = ada.post("/api/secrets/openai/check").json
    if policy == "any":
        assert result["ok"] is True and fake_provider.keys_seen() == [SECRET_KEY]
        return
    assert result["ok"] is False and result["status"] == "base_url_not_public"
    assert "only allows public base URLs" in result["message"] and SECRET_KEY not in str(result)
    assert ada.get("/api/secrets/openai").json["secret"]["last_check_status"] == "base_url_not_public"
    assert fake_provider.calls == []


def test_one_private_answer_among_public_ones_is_refused(rebound_public, fake_provider, resolver):
    _, app, ada, token, _ = rebound_public
    resolver.addresses = [PUBLIC, "127.0.0.1"]
    assert send_chat(app, ada, token, "/api/chat", "session", False).status_code == 403
    assert fake_provider.calls == []


@pytest.fixture
def loopback_allowed(monkeypatch):
    """The rule with 127.0.0.1 let through, so the pinned connection can reach the fake provider."""
    rule = urls.is_public
    monkeypatch.setattr(urls, "is_public", lambda address: address == "127.0.0.1" or rule(address))


def test_the_connection_goes_to_the_address_just_vetted(rebound_public, fake_provider, resolver, loopback_allowed):
    _, app, ada, token, _ = rebound_public
    for stream in (False, True, False):
        assert send_chat(app, ada, token, "/api/chat", "session", stream).status_code == 200
    assert fake_provider.keys_seen() == [KEY] * 3
    assert resolver.asked == 3  # once a request, by us: urllib3 only sees the address
    port = urlsplit(fake_provider.openai_base).port
    assert {call["headers"]["host"] for call in fake_provider.calls} == {f"{REBIND}:{port}"}
    assert fake_provider.connections == 1  # the pinned pool keeps its connection alive
    resolver.addresses = ["10.0.0.1"]  # rebound while a warm connection to the vetted one waits
    response = send_chat(app, ada, token, "/api/chat", "session", False)
    assert response.status_code == 403 and response.json["error"]["code"] == "base_url_not_public"
    assert len(fake_provider.calls) == 3


REFUSED = ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
           "100.127.255.254", "192.0.0.8", "192.0.0.9", "192.0.0.170", "0.0.0.0", "0.1.2.3",
           "255.255.255.255", "198.18.0.1", "240.0.0.1", "224.0.0.1", "239.255.255.250",
           "::", "::1", "fe80::1", "fe80::1%1", "fd00::1", "fc00::1", "fec0::1", "ff02::1", "ff0e::1",
           "2001:db8::1", "3fff::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
           "::ffff:0.0.0.0", "::127.0.0.1", "::ffff:0:7f00:1", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe",
           "64:ff9b:1::808:808", "2002:7f00:1::1", "2002:a00:1::1"]
ALLOWED = ["8.8.8.8", "1.1.1.1", "93.184.215.14", "2606:4700::1", "2a00:1450:4001::200e",
           "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"]


@pytest.mark.parametrize("address", REFUSED)
def test_the_rule_refuses_every_address_that_is_not_global(address):
    assert is_public(address) is False


@pytest.mark.parametrize("address", ALLOWED)
def test_the_rule_allows_global_unicast_addresses(address):
    assert is_public(address) is True


@pytest.mark.parametrize("address", ["192.0.0.8", "100.64.0.1", "::ffff:127.0.0.1", "64:ff9b::a00:1"])
def test_saving_applies_the_same_rule(address):
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(NotPublic):
        check_base_url(f"http://{host}/v1", "public")
    assert check_base_url(f"http://{host}/v1", "any") == f"http://{host}/v1"


def test_a_name_that_does_not_resolve_is_not_called_public(monkeypatch):
    def nxdomain(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    monkeypatch.setattr(socket, "getaddrinfo", nxdomain)
    with pytest.raises(BadURL) as refused:
        urls.public_addresses("nothing.invalid")
    assert not isinstance(refused.value, NotPublic)


@pytest.fixture
def tls_provider(tmp_path):
    """An HTTPS models list on 127.0.0.1 whose certificate names REBIND only: (port, CA file,
    the server names clients sent, the Host headers they sent)."""
    import datetime as dt
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, REBIND)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(REBIND)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    names, hosts = [], []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    context.sni_callback = lambda sock, server_name, ctx: names.append(server_name)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hosts.append(self.headers["Host"])
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "11")
            self.end_headers()
            self.wfile.write(b'{"data":[]}')

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], str(tmp_path / "cert.pem"), names, hosts
    server.shutdown()
    server.server_close()


def test_tls_to_the_vetted_address_still_checks_the_name(app_config, tls_provider, resolver,
                                                         loopback_allowed, monkeypatch, fake_provider):
    port, ca_file, names, hosts = tls_provider
    monkeypatch.setattr(http.certs, "where", lambda: ca_file)  # trust the test's certificate
    app = create_app({**app_config, "VAULT_BASE_URL_POLICY": "public"})
    target = fake_provider.target(key=KEY, model=None)  # a provider's check: its list is all it asks
    resolver.addresses = ["127.0.0.1"]
    with app.app_context():
        good = llm.check_connection(replace(target, base_url=f"https://{REBIND}:{port}/v1"))
        # Another name on the same address: the certificate does not name it, so nothing is sent.
        other = llm.check_connection(replace(target, base_url=f"https://other.rebind.test:{port}/v1"))
    assert good["ok"] is True, good
    assert names == [REBIND, "other.rebind.test"] and hosts == [f"{REBIND}:{port}"]
    assert other["ok"] is False and other["code"] == "upstream_unreachable"
