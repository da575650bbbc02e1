"""vault.llm against the fake provider over real sockets: check_connection sentences, and every
upstream failure mapped to our error codes, streamed and not, without a key in sight."""
import logging
import traceback

import flask
import pytest

from vault import llm
from vault.llm.types import Delta
from vault.resolver import Target

from .fake_provider import BODY_MARKER
from .helpers import chat_request

KEY = "sk-test-SENTINEL-errors-0000"
CHAT = chat_request({"messages": [{"role": "user", "content": "hi"}]})
WIRES = ["openai", "anthropic"]


def run(target, stream, timeout=None):
    """The UpstreamError one chat raises, whole or streamed."""
    adapter = llm.adapter_for(target, timeout)
    with pytest.raises(llm.UpstreamError) as caught:
        list(adapter.stream(target, CHAT)) if stream else adapter.complete(target, CHAT)
    return caught.value


def assert_clean(exc, caplog):
    """Our sentence only: no key, no upstream body, no URL path, in the error or the logs."""
    shown = [exc.message, str(exc), "".join(traceback.format_exception(exc)), caplog.text]
    for text in shown:
        assert KEY not in text and BODY_MARKER not in text
    assert "/v1" not in exc.message


@pytest.mark.parametrize("provider", WIRES)
def test_check_connection_accepts_a_good_key(fake_provider, provider):
    result = llm.check_connection(fake_provider.target(provider, key=KEY, model=None))  # the provider's check
    assert result["ok"] is True and result["status"] == 200 and result["code"] == "ok"
    assert result["latency_ms"] >= 0 and "the key was accepted" in result["message"]
    assert fake_provider.keys_seen() == [KEY]


def test_check_connection_names_the_provider_and_the_key_source(fake_provider):
    fake_provider.valid_keys = {"sk-other"}
    own = llm.check_connection(fake_provider.target(key=KEY, key_source="model"))
    shared = llm.check_connection(fake_provider.target(key=KEY, key_source="provider_secret"))
    assert own == own | {"ok": False, "status": 401, "code": "upstream_auth",
                         "message": "The key was refused by OpenAI (401); it is the model's own key."}
    assert shared["message"] == "The key was refused by OpenAI (401); it is the openai provider secret."


def test_check_connection_to_a_refused_port_says_unreachable(refused_url):
    target = Target("openai", refused_url, "bearer", None, "none")
    result = llm.check_connection(target)
    port = refused_url.split(":")[2].split("/")[0]
    assert result["ok"] is False and result["status"] is None and result["code"] == "upstream_unreachable"
    assert result["message"] == f"Could not connect to OpenAI at 127.0.0.1:{port}."


def test_unreachable_message_never_shows_credentials_in_the_base_url(refused_url, caplog):
    with_userinfo = refused_url.replace("http://", f"http://user:{KEY}@")
    target = Target("custom", with_userinfo + "?token=" + KEY, "bearer", None, "none", "m")
    exc = run(target, stream=False)
    assert exc.code == "upstream_unreachable" and exc.message.startswith("Could not connect to Custom")
    assert_clean(exc, caplog)


@pytest.mark.parametrize("base_url", ["", "api.openai.com/v1", "ftp://host/v1", "http://host:abc/v1",
                                      "http://[::1/v1"])
def test_a_base_url_that_is_not_http_is_refused_before_any_call(base_url):
    result = llm.check_connection(Target("openai", base_url, "bearer", None, "none"))
    assert result["code"] == "upstream_unreachable"
    assert result["message"] == "The base URL for OpenAI is not a valid http(s) URL."


def test_anthropic_check_sends_key_and_version_headers(fake_provider):
    assert llm.check_connection(fake_provider.target("anthropic", "claude-haiku-4-5", key=KEY))["ok"]
    call = fake_provider.calls[0]
    assert call["headers"]["x-api-key"] == KEY and call["headers"]["anthropic-version"] == "2023-06-01"
    assert "authorization" not in call["headers"] and call["path"] == "/anthropic/v1/models"


@pytest.mark.parametrize("auth, header, value", [("bearer", "authorization", f"Bearer {KEY}"),
                                                  ("api-key", "api-key", KEY), ("x-api-key", "x-api-key", KEY)])
def test_the_key_travels_only_in_its_header(fake_provider, auth, header, value):
    provider = "azure" if auth == "api-key" else "openai"
    target = fake_provider.target(provider, key=KEY, auth_type=auth)
    assert llm.check_connection(target)["ok"]
    llm.adapter_for(target).complete(target, CHAT)
    for call in fake_provider.calls:
        assert call["headers"][header] == value and KEY not in call["path"]
        assert [h for h, v in call["headers"].items() if KEY in v] == [header]


def test_auth_type_none_sends_no_key(fake_provider):
    fake_provider.allow_no_key = True
    result = llm.check_connection(fake_provider.target("ollama", key=None, key_source="none"))
    assert result["ok"] and "no key needed" in result["message"]
    assert fake_provider.keys_seen() == [None] and "authorization" not in fake_provider.calls[0]["headers"]


@pytest.mark.parametrize("scenario, code, status", [
    ("fail-401", "upstream_auth", 401), ("fail-403", "upstream_auth", 403),
    ("fail-429", "upstream_rate_limited", 429), ("fail-500", "upstream_error", 500),
    ("garbage", "upstream_bad_response", 200)])
def test_check_connection_failures_are_our_sentences(fake_provider, caplog, scenario, code, status):
    fake_provider.models_scenario = scenario
    with caplog.at_level(logging.DEBUG):
        result = llm.check_connection(fake_provider.target(key=KEY))
    assert result["ok"] is False and result["code"] == code and result["status"] == status
    assert "OpenAI" in result["message"]
    assert KEY not in result["message"] + caplog.text and BODY_MARKER not in result["message"] + caplog.text


def test_check_connection_times_out(fake_provider):
    fake_provider.models_scenario, fake_provider.slow_seconds = "slow", 1.5
    result = llm.check_connection(fake_provider.target(key=KEY), timeout=0.3)
    assert result["code"] == "upstream_timeout"
    assert result["message"] == "OpenAI did not answer within 0.3 seconds."


ERRORS = [  # model scenario, our code, our HTTP status, words the sentence holds
    ("fail-401", "upstream_auth", 502, "The key was refused by"),
    ("fail-403", "upstream_auth", 502, "(403); it is the model's own key"),
    ("fail-429", "upstream_rate_limited", 429, "rate-limiting"),
    ("fail-400", "upstream_error", 502, "rejected the request (400 bad request)"),
    ("fail-404", "upstream_error", 502, "check the model ID"),
    ("fail-500", "upstream_error", 502, "(500)"),
    ("fail-503", "upstream_error", 502, "(503)"),
    ("garbage", "upstream_bad_response", 502, "could not read"),
]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("provider", WIRES)
@pytest.mark.parametrize("scenario, code, status, words", ERRORS)
def test_upstream_failures_map_to_our_codes(fake_provider, caplog, provider, stream, scenario, code,
                                            status, words):
    with caplog.at_level(logging.DEBUG):
        exc = run(fake_provider.target(provider, scenario, KEY), stream)
    assert (exc.code, exc.status) == (code, status) and words in exc.message
    assert_clean(exc, caplog)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("provider", WIRES)
def test_a_slow_provider_times_out(fake_provider, caplog, provider, stream):
    fake_provider.slow_seconds = 1.5
    exc = run(fake_provider.target(provider, "slow", KEY), stream, timeout=0.3)
    assert (exc.code, exc.status) == ("upstream_timeout", 504)
    assert exc.message.endswith("did not answer within 0.3 seconds.")
    assert_clean(exc, caplog)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_refused_port_is_unreachable(refused_url, caplog, stream):
    exc = run(Target("openai", refused_url, "bearer", None, "none", "echo"), stream)
    assert (exc.code, exc.status) == ("upstream_unreachable", 502)
    assert_clean(exc, caplog)


def test_an_unknown_host_is_unreachable(caplog):
    exc = run(Target("custom", "http://no-such-host.invalid/v1", "bearer", None, "none", "m"), False)
    assert exc.code == "upstream_unreachable"
    assert exc.message == "Could not connect to Custom (OpenAI-compatible) at no-such-host.invalid:80."


@pytest.mark.parametrize("provider", WIRES)
@pytest.mark.parametrize("scenario", ["cut", "cut-clean"])
def test_a_stream_cut_short_is_an_error(fake_provider, caplog, provider, scenario):
    target = fake_provider.target(provider, scenario, KEY)
    events = []
    with pytest.raises(llm.UpstreamError) as caught:
        for event in llm.adapter_for(target).stream(target, CHAT):
            events.append(event)
    assert caught.value.code == "upstream_error"
    assert caught.value.message == "The provider closed the stream before it finished."
    assert all(e.type == "delta" for e in events)  # no "done" for a stream that did not finish
    assert_clean(caught.value, caplog)


@pytest.mark.parametrize("provider", WIRES)
def test_an_error_event_mid_stream_raises_after_the_deltas(fake_provider, caplog, provider):
    target = fake_provider.target(provider, "stream-error", KEY)
    events = []
    with pytest.raises(llm.UpstreamError) as caught:
        events.extend(llm.adapter_for(target).stream(target, CHAT))
    assert caught.value.code == "upstream_error" and "mid-stream" in caught.value.message
    assert_clean(caught.value, caplog)


@pytest.mark.parametrize("provider", WIRES)
def test_a_stream_that_stalls_times_out(fake_provider, caplog, provider):
    fake_provider.slow_seconds = 1.5
    target = fake_provider.target(provider, "stall", KEY)
    seen = []
    with pytest.raises(llm.UpstreamError) as caught:
        for event in llm.adapter_for(target, timeout=0.3).stream(target, CHAT):
            seen.append(event)
    assert caught.value.code == "upstream_timeout" and seen[0] == Delta("before ")
    assert_clean(caught.value, caplog)


def test_the_read_timeout_comes_from_the_app_config(fake_provider):
    app = flask.Flask(__name__)  # only current_app.config matters here
    app.config["VAULT_UPSTREAM_TIMEOUT"] = 0.3
    fake_provider.slow_seconds = 1.5
    target = fake_provider.target(model="slow", key=KEY)
    with app.app_context():
        adapter = llm.adapter_for(target)
    with pytest.raises(llm.UpstreamError) as caught:
        adapter.complete(target, CHAT)  # outside the app context: the timeout was fixed above
    assert caught.value.code == "upstream_timeout" and "0.3 seconds" in caught.value.message


def test_the_pool_survives_errors(fake_provider):
    target = fake_provider.target(key=KEY)
    adapter = llm.adapter_for(target)
    for scenario in ("fail-401", "garbage", "cut"):
        with pytest.raises(llm.UpstreamError):
            bad = fake_provider.target(model=scenario, key=KEY)
            list(adapter.stream(bad, CHAT))
    assert adapter.complete(target, CHAT).content == "Echo: hi"
