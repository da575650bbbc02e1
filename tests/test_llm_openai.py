"""The openai-wire adapter against the fake provider: the request it sends, whole answers,
streamed deltas, tool calls assembled by index, usage, and the SSE parser on awkward chunks."""
import dataclasses
import json


from vault import llm
from vault.llm import sse
from vault.llm.types import Answer, Done, ToolCall, Usage

from .fake_provider import TOOL_CALLS
from .helpers import chat_request

CHAT = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there"}]}
CITY = {"type": "object", "properties": {"city": {"type": "string"}}}
TOOLS = [{"type": "function",
          "function": {"name": "get_weather", "description": "Weather in a city", "parameters": CITY}}]


def test_complete_posts_to_chat_completions_and_answers_our_shape(fake_provider):
    target = fake_provider.target(model="gpt-4o-mini")
    answer = llm.adapter_for(target).complete(target, chat_request(CHAT | {"temperature": 0.2, "max_tokens": 50}))
    assert answer == Answer("Echo: hello there", (), "stop", Usage(answer.usage.prompt_tokens, 7), "gpt-4o-mini")
    assert answer.usage.prompt_tokens > 0
    call = fake_provider.calls[0]
    assert (call["method"], call["path"]) == ("POST", "/openai/v1/chat/completions")
    assert call["json"] == {"model": "gpt-4o-mini", "messages": CHAT["messages"], "temperature": 0.2,
                            "max_completion_tokens": 50}  # the name OpenAI's reasoning models take too


def test_the_output_limit_keeps_its_name_for_other_openai_wire_providers(fake_provider):
    for provider, name in (("groq", "max_tokens"), ("mistral", "max_tokens"), ("azure", "max_completion_tokens")):
        target = fake_provider.target(provider=provider, model="echo")
        llm.adapter_for(target).complete(target, chat_request(CHAT | {"max_tokens": 9}))
        sent = fake_provider.calls[-1]["json"]
        assert sent[name] == 9 and ({"max_tokens", "max_completion_tokens"} - {name}).isdisjoint(sent), provider


def test_stream_relays_deltas_then_done_with_usage(fake_provider):
    target = fake_provider.target(model="echo")
    events = list(llm.adapter_for(target).stream(target, chat_request(CHAT)))
    deltas = [e for e in events if e.type == "delta"]
    assert "".join(e.content for e in deltas) == "Echo: hello there" and len(deltas) == 3
    done = events[-1]
    assert done.type == "done" and done.finish_reason == "stop"
    assert done.usage.completion_tokens == 3 and done.usage.prompt_tokens > 0
    sent = fake_provider.calls[0]["json"]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}


def test_whole_tool_calls_come_back_as_tool_calls(fake_provider):
    target = fake_provider.target(model="tools")
    answer = llm.adapter_for(target).complete(target, chat_request(CHAT | {"tools": TOOLS, "tool_choice": "auto"}))
    assert answer.finish_reason == "tool_calls" and answer.content == ""
    assert [(type(c), c.name, json.loads(c.arguments))
            for c in answer.tool_calls] == [(ToolCall, n, a) for n, a in TOOL_CALLS]
    assert fake_provider.calls[0]["json"]["tools"] == TOOLS


def test_streamed_tool_call_deltas_are_assembled_by_index(fake_provider):
    target = fake_provider.target(model="tools")
    events = list(llm.adapter_for(target).stream(target, chat_request(CHAT | {"tools": TOOLS})))
    calls = [e for e in events if e.type == "tool_call"]
    assert [(c.index, c.id, c.name, json.loads(c.arguments)) for c in calls] == [
        (i, f"call_{i}", name, args) for i, (name, args) in enumerate(TOOL_CALLS)]
    assert events[-1] == Done("tool_calls", Usage(events[-1].usage.prompt_tokens, 9))


def test_a_tool_conversation_is_passed_through_unchanged(fake_provider):
    target = fake_provider.target()
    messages = CHAT["messages"] + [
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "call_0", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_0", "content": "sunny"}]
    llm.adapter_for(target).complete(target, chat_request({"messages": messages, "tools": TOOLS}))
    assert fake_provider.calls[0]["json"]["messages"] == messages


def test_azure_sends_api_key_header(fake_provider):
    target = fake_provider.target("azure", key="azure-key-123")
    assert llm.adapter_for(target).complete(target, chat_request(CHAT)).content == "Echo: hello there"
    headers = fake_provider.calls[0]["headers"]
    assert headers["api-key"] == "azure-key-123" and "authorization" not in headers


def test_a_query_string_on_the_base_url_is_kept(fake_provider):
    target = fake_provider.target()
    target = dataclasses.replace(target, base_url=target.base_url + "?api-version=2024-10-21")
    llm.adapter_for(target).complete(target, chat_request(CHAT))
    assert fake_provider.calls[0]["path"] == "/openai/v1/chat/completions?api-version=2024-10-21"


def feed(parts):
    return [(name, data.decode()) for name, data in sse.events(iter(parts))]


def test_sse_parser_handles_events_split_anywhere():
    stream = b'event: a\r\ndata: {"x": 1}\r\n\r\n: keep-alive\n\ndata: one\ndata: two\n\ndata:[DONE]\n\n'
    whole = feed([stream])
    assert whole == [("a", '{"x": 1}'), ("message", "one\ntwo"), ("message", "[DONE]")]
    for size in (1, 2, 3, 7):
        assert feed([stream[i:i + size] for i in range(0, len(stream), size)]) == whole


def test_sse_parser_drops_an_unfinished_last_event():
    assert feed([b"data: complete\n\n", b"data: {half"]) == [("message", "complete")]


def test_odd_usage_counts_read_as_zero_instead_of_failing_the_answer():
    from vault.llm import anthropic_format
    from vault.llm.openai import StreamState
    state = StreamState(target=None)
    list(state.feed({"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}]}))
    list(state.feed({"choices": [], "usage": {"prompt_tokens": "n/a", "completion_tokens": "7"}}))
    done = list(state.end())[-1]
    assert done == Done("stop", Usage(0, 7))
    assert anthropic_format.usage(anthropic_format.counts({"input_tokens": "many", "output_tokens": [1]})) == \
        Usage(0, 0)
