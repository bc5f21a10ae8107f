"""The scripted LLM speaks the OpenAI chat-completions protocol over real HTTP: the official
client streams it, sees tool calls, and concurrent conversations do not share state."""

from __future__ import annotations

import json

import pytest
from openai import OpenAI

from cb.plugins.scripted.script import ScriptError, parse
from cb.plugins.scripted.server import ScriptedLLMServer

SCRIPT = parse({
    "turns": [
        {"match": "(?i)bye", "say": "Goodbye!", "tool_calls": [{"name": "end_call"}]},
        {"say": "What time suits you?"},
        {"say": "Booking it.", "tool_calls": [{"name": "book", "arguments": {"slot": "10:00"}}],
         "after_tool": "You're booked for ten."},
    ],
    "default": "Sorry?",
})


@pytest.fixture
def client():
    with ScriptedLLMServer(SCRIPT) as server:
        yield OpenAI(base_url=server.url, api_key="x"), server


def stream(client, messages):
    text, calls = "", {}
    for chunk in client.chat.completions.create(model="scripted", messages=messages, stream=True,
                                                stream_options={"include_usage": True}):
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        text += delta.content or ""
        for call in delta.tool_calls or []:
            calls[call.index] = (call.function.name, json.loads(call.function.arguments))
    return text, list(calls.values())


def user(*texts):
    return [{"role": "system", "content": "sys"}] + [{"role": "user", "content": t} for t in texts]


def test_streams_the_turn_that_matches_the_number_of_caller_messages(client):
    c, server = client
    assert stream(c, user("I need an appointment")) == ("What time suits you?", [])
    assert stream(c, user("I need an appointment", "ten please")) == ("Booking it.", [("book", {"slot": "10:00"})])
    assert stream(c, user("a", "b", "c")) == ("Sorry?", [])
    assert [r["messages"][-1]["content"] for r in server.requests] == ["I need an appointment", "ten please", "c"]


def test_a_match_wins_over_order_and_can_end_the_call(client):
    c, _ = client
    assert stream(c, user("ok bye now")) == ("Goodbye!", [("end_call", {})])


def test_after_a_tool_result_it_says_the_after_tool_text(client):
    c, _ = client
    messages = user("x", "ten please") + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "book", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"ok": true}'}]
    assert stream(c, messages) == ("You're booked for ten.", [])


def test_non_streaming_answers_too(client):
    c, _ = client
    reply = c.chat.completions.create(model="scripted", messages=user("hello"))
    assert reply.choices[0].message.content == "What time suits you?"


@pytest.mark.parametrize("bad, message", [
    ({"turns": "nope"}, "expected a mapping with a `turns` list"),
    ({"turns": [{"sey": "typo"}]}, r"turns\[0\] has unknown keys \['sey'\]"),
    ({"turns": [{"tool_calls": [{}]}]}, r"turns\[0\].tool_calls\[0\] needs a `name`"),
    ({"turns": [{"match": "("}]}, r"turns\[0\].match is not a valid regex"),
])
def test_a_broken_script_names_the_entry_and_the_fix(bad, message):
    with pytest.raises(ScriptError, match=message):
        parse(bad)
