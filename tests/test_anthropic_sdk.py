"""The official anthropic SDK, unchanged, against the vault's /v1/messages over real HTTP: an
OpenAI-wire and an Anthropic-wire model behind it, whole answers, streams, tools both ways, and
errors as the SDK's exceptions."""
import pytest
import requests

from tests.fake_provider import TOOL_CALLS
from tests.helpers import live_gateway, official_sdk

TOOLS = [{"name": "get_weather", "description": "Weather in a city",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
HI = [{"role": "user", "content": "hello vault"}]


anthropic, transport = official_sdk("anthropic")


@pytest.fixture
def sdk(app_config, fake_provider, transport, anthropic):
    base, token, stop = live_gateway(app_config, fake_provider, (
        ("gpt", "openai", "echo"), ("claude", "anthropic", "claude-haiku-4-5"), ("gpt-tools", "openai", "tools"),
        ("claude-tools", "anthropic", "tools"), ("broken", "openai", "fail-429"),
        ("claude-broken", "anthropic", "fail-429"), ("gpt-cut", "openai", "tools-cut")))
    client = anthropic.Anthropic(base_url=base, api_key=token, max_retries=0, timeout=10, http_client=transport)
    client.vault_base, client.vault_token = base, token
    yield client
    stop()


@pytest.mark.parametrize("model", ["gpt", "claude"])
def test_a_whole_message(sdk, fake_provider, model):
    answer = sdk.messages.create(model=model, max_tokens=100, system="be brief", messages=HI)
    assert answer.type == "message" and answer.role == "assistant" and answer.model == model
    assert answer.content[0].type == "text" and "hello vault" in answer.content[0].text
    assert answer.stop_reason == "end_turn" and answer.usage.input_tokens > 0 and answer.usage.output_tokens > 0
    sent = fake_provider.calls[-1]["json"]
    assert sent["max_tokens" if model == "claude" else "max_completion_tokens"] == 100
    if model == "claude":
        assert sent["system"] == "be brief" and sent["messages"] == [
            {"role": "user", "content": [{"type": "text", "text": "hello vault"}]}]
    else:
        assert sent["messages"][0] == {"role": "system", "content": "be brief"}


@pytest.mark.parametrize("model", ["gpt", "claude"])
def test_a_streamed_message(sdk, model):
    with sdk.messages.stream(model=model, max_tokens=100, messages=[
            {"role": "user", "content": "stream this please"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert "stream this please" in text and final.content[0].text == text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0 and final.usage.input_tokens > 0


@pytest.mark.parametrize("model", ["gpt-tools", "claude-tools"])
@pytest.mark.parametrize("stream", [False, True])
def test_tool_use_whole_and_streamed(sdk, fake_provider, model, stream):
    if stream:
        with sdk.messages.stream(model=model, max_tokens=100, tools=TOOLS, messages=HI) as events:
            answer = events.get_final_message()
    else:
        answer = sdk.messages.create(model=model, max_tokens=100, tools=TOOLS, messages=HI,
                                     tool_choice={"type": "auto", "disable_parallel_tool_use": True})
    uses = [block for block in answer.content if block.type == "tool_use"]
    assert [(u.name, u.input) for u in uses] == [(name, args) for name, args in TOOL_CALLS]
    assert answer.stop_reason == "tool_use" and len({u.id for u in uses}) == 2
    sent = fake_provider.calls[-1]["json"]
    if model == "gpt-tools":
        assert sent["tools"][0]["function"]["name"] == "get_weather"
        assert stream or sent["parallel_tool_calls"] is False
    else:
        assert sent["tools"][0] == TOOLS[0]
        assert stream or sent["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


@pytest.mark.parametrize("model", ["gpt", "claude"])
def test_a_tool_result_goes_back_to_the_provider(sdk, fake_provider, model):
    sdk.messages.create(model=model, max_tokens=50, messages=[
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                           "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                                     {"type": "text", "text": "and tomorrow?"}]}])
    sent = fake_provider.calls[-1]["json"]["messages"]
    if model == "gpt":
        assert sent[1]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
        assert sent[2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"}
        assert sent[3]["role"] == "user"
    else:
        assert sent[1]["content"][0] == {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                         "input": {"city": "Paris"}}
        assert sent[2]["content"][0] == {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}


def test_the_token_in_a_bearer_header_works_too(sdk, anthropic):
    bearer = anthropic.Anthropic(base_url=sdk.vault_base, auth_token=sdk.vault_token, max_retries=0)
    assert bearer.messages.create(model="gpt", max_tokens=10, messages=HI).content[0].text


def test_errors_are_the_sdks_exceptions_in_anthropics_shape(sdk, fake_provider, anthropic):
    bad = anthropic.Anthropic(base_url=sdk.vault_base, api_key="psv_wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as err:
        bad.messages.create(model="gpt", max_tokens=10, messages=HI)
    assert err.value.body["type"] == "error" and err.value.body["error"]["type"] == "authentication_error"
    for model in ("broken", "claude-broken"):
        with pytest.raises(anthropic.RateLimitError):
            sdk.messages.create(model=model, max_tokens=10, messages=HI)
        with pytest.raises(anthropic.RateLimitError):
            with sdk.messages.stream(model=model, max_tokens=10, messages=HI) as stream:
                stream.get_final_message()
    with pytest.raises(anthropic.NotFoundError):
        sdk.messages.create(model="nope", max_tokens=10, messages=HI)
    with pytest.raises(anthropic.BadRequestError) as err:
        sdk.messages.create(model="claude", max_tokens=10, messages=HI,
                            thinking={"type": "enabled", "budget_tokens": 1024})
    assert "'thinking'" in err.value.message and err.value.body["error"]["type"] == "invalid_request_error"
    assert not [c for c in fake_provider.calls if c["json"].get("thinking")]


@pytest.mark.parametrize("body, wording", [
    ({"model": "gpt", "messages": HI}, "'max_tokens' is required"),
    ({"model": "gpt", "max_tokens": 5, "messages": HI, "top_k": 3}, "'top_k'"),
    ({"model": "gpt", "max_tokens": 5, "messages": HI, "frequency": 3}, "Unknown field: 'frequency'"),
    ({"model": "gpt", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}, "user or assistant"),
    ({"model": "gpt", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "document"}]}]},
     "'document' block"),
    ({"model": "gpt", "max_tokens": 5, "messages": HI, "temperature": 1.5}, "'temperature'"),
    ({"model": "gpt", "max_tokens": 5, "messages": HI, "stop_sequences": ["a"] * 5}, "'stop_sequences'"),
    ({"model": "gpt", "max_tokens": 5, "messages": HI, "tools": [{"type": "web_search_20250305",
                                                                  "name": "web_search"}]}, "server tools"),
    ({"model": "gpt", "max_tokens": 5, "messages": HI, "tool_choice": {"type": "tool"}}, "'tool_choice'"),
    ([1], "JSON object")])
def test_bad_input_is_a_precise_400_in_anthropics_shape(sdk, fake_provider, body, wording):
    answer = requests.post(f"{sdk.vault_base}/v1/messages", json=body, headers={"x-api-key": sdk.vault_token,
                                                                                "anthropic-version": "2023-06-01"})
    assert answer.status_code == 400, answer.text
    error = answer.json()
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert wording in error["error"]["message"]
    assert fake_provider.calls == []


def test_a_role_that_is_not_text_is_a_400_not_a_500(sdk):
    answer = requests.post(f"{sdk.vault_base}/v1/responses", headers={"Authorization": f"Bearer {sdk.vault_token}"},
                           json={"model": "gpt", "input": [{"role": [], "content": "hi"}]})
    assert answer.status_code == 400 and "'role'" in answer.json()["error"]["message"]


def test_metadata_user_id_reaches_an_anthropic_model(sdk, fake_provider):
    sdk.messages.create(model="claude", max_tokens=10, messages=HI, metadata={"user_id": "u-42"})
    assert fake_provider.calls[-1]["json"]["metadata"] == {"user_id": "u-42"}


def test_a_tool_call_the_output_limit_cut_keeps_the_text_and_says_max_tokens(sdk):
    answer = sdk.messages.create(model="gpt-cut", max_tokens=10, tools=TOOLS, messages=HI)
    assert answer.stop_reason == "max_tokens" and [b.type for b in answer.content] == ["text"]
    assert "hello vault" in answer.content[0].text
