"""The anthropic-wire adapter against the fake provider: headers, system prompt, max_tokens,
tools and tool results translated both ways, named stream events turned into ours."""
import json
from types import SimpleNamespace

import pytest
import urllib3

from vault import llm
from vault.errors import BadRequest
from vault.llm import anthropic_format as fmt
from vault.llm.types import ToolCall, Usage

from .fake_provider import TOOL_CALLS
from .helpers import chat_request

CITY = {"type": "object", "properties": {"city": {"type": "string"}}}
TOOLS = [{"type": "function",
          "function": {"name": "get_weather", "description": "Weather in a city", "parameters": CITY}}]
CHAT = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there"}]}


def test_complete_moves_system_up_and_always_sends_max_tokens(fake_provider):
    target = fake_provider.target("anthropic", "claude-haiku-4-5", key="sk-ant-test-1")
    answer = llm.adapter_for(target).complete(target, chat_request(CHAT))
    assert answer.content == "Echo: hello there" and answer.finish_reason == "stop"
    assert answer.model == "claude-haiku-4-5" and answer.tool_calls == ()
    assert answer.usage.completion_tokens == 7 and answer.usage.prompt_tokens > 0
    call = fake_provider.calls[0]
    assert (call["method"], call["path"]) == ("POST", "/anthropic/v1/messages")
    assert call["headers"]["x-api-key"] == "sk-ant-test-1" and call["headers"]["anthropic-version"] == "2023-06-01"
    assert call["json"] == {"model": "claude-haiku-4-5", "system": "Be brief.", "max_tokens": 4096,
                            "messages": [{"role": "user", "content": [{"type": "text", "text": "hello there"}]}]}


def test_options_are_translated(fake_provider):
    target = fake_provider.target("anthropic", "claude")
    body = CHAT | {"max_tokens": 99, "temperature": 0.5, "stop": "END", "tool_choice": "required", "tools": TOOLS}
    llm.adapter_for(target).complete(target, chat_request(body))
    sent = fake_provider.calls[0]["json"]
    assert sent["max_tokens"] == 99 and sent["temperature"] == 0.5 and sent["stop_sequences"] == ["END"]
    assert sent["tool_choice"] == {"type": "any"}
    assert sent["tools"] == [{"name": "get_weather", "description": "Weather in a city",
                              "input_schema": TOOLS[0]["function"]["parameters"]}]


def test_tool_calls_and_results_become_content_blocks(fake_provider):
    target = fake_provider.target("anthropic", "claude")
    messages = CHAT["messages"] + [
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "toolu_0", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
            {"id": "toolu_1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "toolu_0", "content": "sunny"},
        {"role": "tool", "tool_call_id": "toolu_1", "content": [{"type": "text", "text": "noon"}]},
        {"role": "user", "content": "thanks"}]
    llm.adapter_for(target).complete(target, chat_request({"messages": messages, "tools": TOOLS}))
    sent = fake_provider.calls[0]["json"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]  # results and text share a turn
    assert sent[1]["content"] == [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_0", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_1", "name": "get_time", "input": {}}]
    assert sent[2]["content"] == [{"type": "tool_result", "tool_use_id": "toolu_0", "content": "sunny"},
                                  {"type": "tool_result", "tool_use_id": "toolu_1", "content": "noon"},
                                  {"type": "text", "text": "thanks"}]


def test_whole_tool_use_comes_back_as_tool_calls(fake_provider):
    target = fake_provider.target("anthropic", "tools")
    answer = llm.adapter_for(target).complete(target, chat_request(CHAT | {"tools": TOOLS}))
    assert answer.finish_reason == "tool_calls" and answer.content == "Let me check."
    assert answer.tool_calls == tuple(ToolCall(i, f"toolu_{i}", name, json.dumps(args))
                                      for i, (name, args) in enumerate(TOOL_CALLS))


def test_stream_turns_named_events_into_ours(fake_provider):
    target = fake_provider.target("anthropic", "claude")
    events = list(llm.adapter_for(target).stream(target, chat_request(CHAT)))
    assert [e.content for e in events[:-1]] == ["Echo:", " hello", " there"]
    assert events[-1].type == "done" and events[-1].finish_reason == "stop"
    assert events[-1].usage.completion_tokens == 3 and events[-1].usage.prompt_tokens > 0
    assert fake_provider.calls[0]["json"]["stream"] is True


def test_streamed_input_json_deltas_make_whole_tool_calls(fake_provider):
    target = fake_provider.target("anthropic", "tools")
    events = list(llm.adapter_for(target).stream(target, chat_request(CHAT | {"tools": TOOLS})))
    assert [e.type for e in events] == ["delta", "delta", "tool_call", "tool_call", "done"]
    calls = [e for e in events if e.type == "tool_call"]
    assert [(c.index, c.id, c.name, json.loads(c.arguments)) for c in calls] == [
        (i, f"toolu_{i}", name, args) for i, (name, args) in enumerate(TOOL_CALLS)]
    assert events[-1].finish_reason == "tool_calls" and events[-1].usage.completion_tokens == 9


@pytest.mark.parametrize("stop, ours", [("end_turn", "stop"), ("stop_sequence", "stop"),
                                        ("max_tokens", "length"), ("tool_use", "tool_calls"), (None, "stop")])
def test_stop_reasons_are_mapped(stop, ours):
    assert fmt.finish_reason(stop) == ours


def test_cache_tokens_count_as_prompt_tokens():
    raw = {"input_tokens": 3, "cache_read_input_tokens": 10, "cache_creation_input_tokens": 5, "output_tokens": 2}
    assert fmt.usage(fmt.counts(raw)) == Usage(18, 2)


def test_tool_call_arguments_that_are_not_json_are_a_bad_request():
    message = {"role": "assistant", "tool_calls": [{"id": "x", "function": {"name": "f", "arguments": "{nope"}}]}
    with pytest.raises(BadRequest):
        fmt.request(SimpleNamespace(upstream_model="m"), chat_request({"messages": [message]}), False)


@pytest.mark.parametrize("headers, status", [({"x-api-key": "k"}, 400), ({"anthropic-version": "2023-06-01"}, 401)])
def test_the_fake_anthropic_wants_both_headers(fake_provider, headers, status):
    answer = urllib3.request("GET", fake_provider.anthropic_base + "/v1/models", headers=headers, retries=False)
    assert answer.status == status and answer.json()["type"] == "error"
