"""The official openai SDK, unchanged, against the vault's /v1: models, completions, streams and
tools, with an OpenAI-wire and an Anthropic-wire model behind it; errors as the SDK's exceptions."""
import json

import pydantic
import pytest
import requests

from tests.fake_provider import TOOL_CALLS
from tests.helpers import live_gateway, make_user, official_sdk
from vault import create_app

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]


openai, transport = official_sdk("openai")


@pytest.fixture
def sdk(app_config, fake_provider, transport, openai):
    base, token, stop = live_gateway(app_config, fake_provider, (
        ("gpt", "openai", "echo"), ("claude", "anthropic", "claude-haiku-4-5"), ("gpt-tools", "openai", "tools"),
        ("claude-tools", "anthropic", "tools"), ("broken", "openai", "fail-429"), ("refused", "openai", "fail-401"),
        ("gpt-json", "openai", "json")))
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=token, max_retries=0, timeout=10, http_client=transport)
    client.base = base
    yield client
    stop()


def test_models_list(sdk):
    names = sorted(m.id for m in sdk.models.list())
    assert names == ["broken", "claude", "claude-tools", "gpt", "gpt-json", "gpt-tools", "refused"]


@pytest.mark.parametrize("model", ["gpt", "claude"])
def test_completion(sdk, fake_provider, model):
    answer = sdk.chat.completions.create(model=model, messages=[
        {"role": "system", "content": "be brief"}, {"role": "user", "content": "hello vault"}])
    assert answer.object == "chat.completion" and answer.model == model
    assert "hello vault" in answer.choices[0].message.content
    assert answer.choices[0].finish_reason == "stop" and answer.usage.total_tokens > 0
    if model == "claude":
        assert fake_provider.calls[-1]["json"]["system"]  # moved to Anthropic's top-level field


@pytest.mark.parametrize("model", ["gpt", "claude"])
def test_stream(sdk, model):
    chunks = list(sdk.chat.completions.create(model=model, stream=True, stream_options={"include_usage": True},
                                              messages=[{"role": "user", "content": "stream this please"}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "stream this please" in text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.completion_tokens > 0


@pytest.mark.parametrize("model", ["gpt-tools", "claude-tools"])
def test_tool_call_whole_and_streamed(sdk, model):
    answer = sdk.chat.completions.create(model=model, tools=TOOLS, messages=[{"role": "user", "content": "weather?"}])
    call = answer.choices[0].message.tool_calls[0]
    assert answer.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and json.loads(call.function.arguments)["city"] == "Paris"
    calls = {}
    for chunk in sdk.chat.completions.create(model=model, tools=TOOLS, stream=True,
                                             messages=[{"role": "user", "content": "weather?"}]):
        for part in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            entry = calls.setdefault(part.index, {"name": "", "arguments": ""})
            entry["name"] += part.function.name or ""
            entry["arguments"] += part.function.arguments or ""
    assert [c["name"] for c in calls.values()] == ["get_weather", "get_time"]
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris", "unit": "celsius"}


def test_tool_result_round_trip(sdk, fake_provider):
    messages = [{"role": "user", "content": "weather?"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]
    sdk.chat.completions.create(model="claude", tools=TOOLS, messages=messages)
    sent = fake_provider.calls[-1]["json"]["messages"]
    assert sent[1]["content"][0]["type"] == "tool_use" and sent[2]["content"][0]["type"] == "tool_result"


def test_wrong_token_is_an_authentication_error(sdk, openai):
    bad = openai.OpenAI(base_url=sdk.base_url, api_key="psv_wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "x"}])


def test_provider_errors_become_sdk_exceptions(sdk, openai):
    with pytest.raises(openai.RateLimitError):
        sdk.chat.completions.create(model="broken", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.RateLimitError):
        sdk.chat.completions.create(model="broken", stream=True, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.APIStatusError) as err:
        sdk.chat.completions.create(model="refused", messages=[{"role": "user", "content": "x"}])
    assert "refused" in err.value.message and "sk-test" not in err.value.message
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])


def test_session_cookie_alone_is_refused(app_config):
    from tests.helpers import sign_in
    app = create_app(app_config)
    make_user(app, "ada@example.com")
    client = sign_in(app.test_client(), "ada@example.com")
    response = client.get("/v1/models")
    assert response.status_code == 401 and response.json["error"]["type"] == "authentication_error"
    assert client.post("/v1/chat/completions", json={"model": "x", "messages": []}).status_code == 401


def test_embeddings_through_the_sdk(sdk, fake_provider):
    answer = sdk.embeddings.create(model="gpt", input=["hello", "vault"])  # the SDK asks for base64
    assert [d.index for d in answer.data] == [0, 1] and answer.model == "gpt"
    assert answer.data[0].embedding == [5.0, float(ord("h")), 0.5]  # decoded by the SDK, as sent
    assert answer.data[1].embedding == [5.0, float(ord("v")), 0.5]
    assert answer.usage.prompt_tokens == 2 and answer.usage.total_tokens == 2
    sent = fake_provider.calls[-1]
    assert sent["path"] == "/openai/v1/embeddings"
    assert sent["json"] == {"model": "echo", "input": ["hello", "vault"], "encoding_format": "base64"}
    floats = sdk.embeddings.create(model="gpt", input="hi", encoding_format="float", dimensions=3)
    assert floats.data[0].embedding == [2.0, float(ord("h")), 0.5]
    assert fake_provider.calls[-1]["json"]["dimensions"] == 3
    usage = requests.get(f"{sdk.base}/api/usage", headers={"Authorization": f"Bearer {sdk.api_key}"}).json()
    row = next(r for r in usage["usage"] if r["model"] == "gpt")
    assert (row["requests"], row["prompt_tokens"], row["errors"]) == (2, 3, 0)


def test_embeddings_for_an_anthropic_model_name_the_provider(sdk, fake_provider, openai):
    with pytest.raises(openai.BadRequestError) as err:
        sdk.embeddings.create(model="claude", input="hi")
    assert err.value.code == "unsupported_for_provider" and "Anthropic" in err.value.message
    assert fake_provider.calls == []


@pytest.mark.parametrize("body, wording", [
    ({"model": "gpt"}, "'input' must be"), ({"model": "gpt", "input": ""}, "'input' must be"),
    ({"model": "gpt", "input": []}, "'input' must be"), ({"model": "gpt", "input": [1, "a"]}, "'input' must be"),
    ({"model": "gpt", "input": [[1], []]}, "'input' must be"), ({"model": "gpt", "input": [True]}, "'input' must be"),
    ({"model": "gpt", "input": "x", "encoding_format": "hex"}, "encoding_format"),
    ({"model": "gpt", "input": "x", "dimensions": 0}, "dimensions"),
    ({"model": "gpt", "input": "x", "truncate": True}, "Unknown field: 'truncate'"),
    ({"input": "x"}, "'model' must be"), ([1], "JSON object")])
def test_embeddings_bad_input_is_a_precise_400(sdk, fake_provider, body, wording):
    answer = requests.post(f"{sdk.base}/v1/embeddings", json=body, headers={"Authorization": f"Bearer {sdk.api_key}"})
    assert answer.status_code == 400 and wording in answer.json()["error"]["message"], answer.text
    assert fake_provider.calls == []


@pytest.mark.parametrize("stream", [False, True])
def test_json_out_of_an_anthropic_model_through_a_forced_tool(sdk, fake_provider, stream):
    schema = {"type": "json_schema", "json_schema": {"name": "Weather", "schema": Weather.model_json_schema()}}
    kwargs = dict(model="claude", response_format=schema, messages=[{"role": "user", "content": "weather?"}])
    if stream:
        chunks = list(sdk.chat.completions.create(stream=True, **kwargs))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        reason = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
        calls = [c for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    else:
        answer = sdk.chat.completions.create(**kwargs)
        text, reason, calls = answer.choices[0].message.content, answer.choices[0].finish_reason, \
            answer.choices[0].message.tool_calls or []
    assert Weather.model_validate_json(text) == Weather(city="Paris", unit="celsius")
    assert reason == "stop" and not calls
    sent = fake_provider.calls[-1]["json"]
    assert sent["tool_choice"] == {"type": "tool", "name": "Weather"}
    assert sent["tools"][0]["input_schema"] == Weather.model_json_schema()
    parsed = sdk.chat.completions.parse(model="claude", response_format=Weather,
                                        messages=[{"role": "user", "content": "weather?"}])
    assert parsed.choices[0].message.parsed == Weather(city="Paris", unit="celsius")


def test_reasoning_effort_becomes_an_anthropic_thinking_budget(sdk, fake_provider):
    sdk.chat.completions.create(model="claude", reasoning_effort="medium", max_tokens=100, temperature=0.2,
                                messages=[{"role": "user", "content": "think"}])
    sent = fake_provider.calls[-1]["json"]
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert sent["max_tokens"] > 4096 and "temperature" not in sent
    sdk.chat.completions.create(model="claude", reasoning_effort="minimal", messages=[{"role": "user", "content": "x"}])
    assert "thinking" not in fake_provider.calls[-1]["json"]


def test_parallel_tool_calls_false_reaches_anthropic_as_disable_parallel_tool_use(sdk, fake_provider):
    sdk.chat.completions.create(model="claude-tools", tools=TOOLS, parallel_tool_calls=False,
                                messages=[{"role": "user", "content": "weather?"}])
    assert fake_provider.calls[-1]["json"]["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def test_an_image_part_reaches_anthropic_as_an_image_block(sdk, fake_provider):
    sdk.chat.completions.create(model="claude", messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}])
    assert fake_provider.calls[-1]["json"]["messages"][0]["content"][1] == {
        "type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}


def test_the_openai_fields_the_vault_passes_on_reach_an_openai_provider(sdk, fake_provider):
    sdk.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "x"}], reasoning_effort="low",
                                logit_bias={"50256": -100}, metadata={"team": "a"}, extra_body={"verbosity": "low"})
    sent = fake_provider.calls[-1]["json"]
    assert {k: sent[k] for k in ("reasoning_effort", "logit_bias", "metadata", "verbosity")} == {
        "reasoning_effort": "low", "logit_bias": {"50256": -100}, "metadata": {"team": "a"}, "verbosity": "low"}
    assert sent["model"] == "echo"


@pytest.mark.parametrize("extra", [{"models": ["openai/o1-pro"], "route": "fallback"}, {"service_tier": "priority"},
                                   {"store": True}, {"logprobs": True}, {"top_k": 5}])
def test_a_limited_token_cannot_steer_the_provider_with_fields_it_passes_on(sdk, fake_provider, extra, openai):
    """A router such as OpenRouter reads `models` and `route` to pick the model: passed on, they
    would let a token limited to one model use any other on its owner's key."""
    with pytest.raises(openai.BadRequestError) as err:
        sdk.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "x"}], extra_body=extra)
    assert err.value.code == "unknown_field" and f"'{sorted(extra)[0]}'" in err.value.message
    assert fake_provider.calls == []


def test_a_field_an_anthropic_model_cannot_honour_is_refused_by_name(sdk, fake_provider, openai):
    with pytest.raises(openai.BadRequestError) as err:
        sdk.chat.completions.create(model="claude", messages=[{"role": "user", "content": "x"}],
                                    logit_bias={"1": 1})
    assert err.value.code == "unsupported_for_provider" and "'logit_bias'" in err.value.message
    assert fake_provider.calls == []


# --- the Responses wire -------------------------------------------------------------------------

RESPONSE_TOOLS = [{"type": "function", "name": "get_weather", "description": "Weather in a city",
                   "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]


@pytest.mark.parametrize("model", ["gpt", "claude"])
def test_a_response_whole(sdk, fake_provider, model):
    answer = sdk.responses.create(model=model, instructions="be brief", input="hello vault", max_output_tokens=50)
    assert answer.object == "response" and answer.status == "completed" and answer.model == model
    assert "hello vault" in answer.output_text and answer.output[0].type == "message"
    assert answer.usage.input_tokens > 0 and answer.usage.output_tokens > 0
    sent = fake_provider.calls[-1]["json"]
    assert sent["max_tokens" if model == "claude" else "max_completion_tokens"] == 50
    if model == "claude":
        assert sent["system"] == "be brief"
    else:
        assert sent["messages"][0] == {"role": "system", "content": "be brief"}


@pytest.mark.parametrize("model", ["gpt", "claude"])
def test_a_response_streamed_with_typed_events(sdk, model):
    with sdk.responses.stream(model=model, input="stream this please") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds and kinds.count("response.output_item.done") == 1
    assert "stream this please" in final.output_text and final.usage.output_tokens > 0


@pytest.mark.parametrize("model", ["gpt-tools", "claude-tools"])
@pytest.mark.parametrize("stream", [False, True])
def test_function_calls_in_a_response(sdk, model, stream):
    if stream:
        with sdk.responses.stream(model=model, input="weather?", tools=RESPONSE_TOOLS) as events:
            answer = events.get_final_response()
    else:
        answer = sdk.responses.create(model=model, input="weather?", tools=RESPONSE_TOOLS)
    calls = [item for item in answer.output if item.type == "function_call"]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [(n, a) for n, a in TOOL_CALLS]


@pytest.mark.parametrize("model", ["gpt", "claude"])
def test_a_function_call_output_goes_back_to_the_provider(sdk, fake_provider, model):
    sdk.responses.create(model=model, input=[
        {"role": "user", "content": "weather?"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        {"role": "user", "content": [{"type": "input_text", "text": "and tomorrow?"}]}], tools=RESPONSE_TOOLS)
    sent = fake_provider.calls[-1]["json"]["messages"]
    if model == "gpt":
        assert sent[1]["tool_calls"][0]["id"] == "call_1" and sent[2] == {"role": "tool", "tool_call_id": "call_1",
                                                                         "content": "sunny"}
    else:
        assert sent[1]["content"][0]["type"] == "tool_use" and sent[2]["content"][0]["type"] == "tool_result"


def test_what_a_stateless_gateway_cannot_do_is_refused_by_name(sdk, fake_provider, openai):
    for kwargs, named in (({"previous_response_id": "resp_1"}, "'previous_response_id'"),
                          ({"store": True}, "'store'"),
                          ({"tools": [{"type": "web_search"}]}, "'web_search'"),
                          ({"include": ["reasoning.encrypted_content"]}, "'include'")):
        with pytest.raises(openai.BadRequestError) as err:
            sdk.responses.create(model="gpt", input="hi", **kwargs)
        assert named in err.value.message, (kwargs, err.value.message)
    with pytest.raises(openai.RateLimitError):
        sdk.responses.create(model="broken", input="hi")
    assert [c for c in fake_provider.calls if c["path"].endswith("/chat/completions")
            and c["json"]["model"] != "fail-429"] == []


class Weather(pydantic.BaseModel):
    city: str
    unit: str


def test_structured_outputs_parse_on_both_wires(sdk, fake_provider):
    parsed = sdk.chat.completions.parse(model="gpt-json", response_format=Weather,
                                        messages=[{"role": "user", "content": "weather as JSON"}])
    assert parsed.choices[0].message.parsed == Weather(city="Paris", unit="celsius")
    assert fake_provider.calls[-1]["json"]["response_format"]["json_schema"]["name"] == "Weather"
    answer = sdk.responses.parse(model="gpt-json", input="weather as JSON", text_format=Weather)
    assert answer.output_parsed == Weather(city="Paris", unit="celsius")
    sent = fake_provider.calls[-1]["json"]["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["schema"]["properties"].keys() == {"city", "unit"}


def test_audio_and_file_parts_reach_an_openai_provider_and_a_pdf_reaches_anthropic(sdk, fake_provider, openai):
    audio = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
    pdf = {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}}
    sdk.chat.completions.create(model="gpt", messages=[{"role": "user", "content": [audio, pdf]}])
    assert fake_provider.calls[-1]["json"]["messages"][0]["content"] == [audio, pdf]
    sdk.chat.completions.create(model="claude", messages=[{"role": "user", "content": [pdf]}])
    assert fake_provider.calls[-1]["json"]["messages"][0]["content"] == [
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}}]
    calls = len(fake_provider.calls)
    with pytest.raises(openai.BadRequestError) as err:
        sdk.chat.completions.create(model="claude", messages=[{"role": "user", "content": [audio]}])
    assert err.value.code == "unsupported_for_provider" and "'input_audio'" in err.value.message
    assert len(fake_provider.calls) == calls
