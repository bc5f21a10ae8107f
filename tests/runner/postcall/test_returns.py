"""Structured returns against the scripted OpenAI-compatible server, over real HTTP."""

from __future__ import annotations

import asyncio
import socket

import openai
import pytest

from cb.plugins.scripted.script import parse
from cb.plugins.scripted.server import ScriptedLLMServer
from cb.runner.postcall.returns import extract_returns, schema_for

SCHEMA = {
    "type": "object",
    "properties": {
        "intent": {"type": "string", "enum": ["booking", "question", "cancellation", "other"]},
        "appointment_at": {"type": ["string", "null"], "format": "date-time"},
        "caller_name": {"type": ["string", "null"]},
    },
    "required": ["intent", "appointment_at", "caller_name"],
    "additionalProperties": False,
}
GOOD = {"intent": "booking", "appointment_at": "2026-04-28T10:00:00-07:00", "caller_name": "Maria Gomez"}
TRANSCRIPT = [
    {"speaker": "agent", "text": "Thanks for calling Acme Dental. How can I help?", "start": 0, "end": 2},
    {"speaker": "caller", "text": "I'd like to book a cleaning on Tuesday at ten. This is Maria Gomez.",
     "start": 2.5, "end": 6},
]
TOOLS = [{"name": "book_appointment", "arguments": {"slot": "2026-04-28T10:00:00-07:00"}, "ok": True,
          "result": {"booked": True, "id": "apt_1"}}]


def extract(server: ScriptedLLMServer, **kw):
    client = openai.AsyncOpenAI(base_url=server.url, api_key="unused", max_retries=0)
    return asyncio.run(extract_returns(SCHEMA, TRANSCRIPT, TOOLS, client=client, model="scripted",
                                       call_time="2026-04-27T09:00:00-07:00", **kw))


@pytest.fixture
def llm():
    servers = []

    def make(returns):
        server = ScriptedLLMServer(parse({"turns": [], "returns": returns})).start()
        servers.append(server)
        return server

    yield make
    for s in servers:
        s.stop()


def test_the_schema_is_filled_in_structured_output_mode_from_transcript_and_tools(llm):
    server = llm([GOOD])
    outcome = extract(server)
    assert outcome.ok and outcome.returns == GOOD and outcome.attempts == 1 and outcome.error is None
    [request] = server.requests
    assert request["response_format"]["type"] == "json_schema"
    assert request["response_format"]["json_schema"]["schema"] == SCHEMA
    asked = request["messages"][-1]["content"]
    assert "Maria Gomez" in asked and "book_appointment" in asked and "apt_1" in asked
    assert "2026-04-27T09:00:00-07:00" in asked, "relative dates need the call's date"


def test_an_invalid_answer_is_retried_with_the_validation_errors(llm):
    server = llm([{"intent": "booking", "appointment_at": "Tuesday at ten", "caller_name": "Maria"}, GOOD])
    outcome = extract(server)
    assert outcome.returns == GOOD and outcome.attempts == 2
    retry = server.requests[1]["messages"]
    assert retry[-2]["role"] == "assistant" and "Tuesday at ten" in retry[-2]["content"]
    assert "appointment_at: 'Tuesday at ten' is not a 'date-time'" in retry[-1]["content"]


def test_a_schema_never_met_is_recorded_honestly_as_null_plus_the_error(llm):
    server = llm([{"intent": "sales"}])
    outcome = extract(server, max_attempts=2)
    assert outcome.returns is None and outcome.attempts == 2 and len(server.requests) == 2
    assert "'sales' is not one of" in outcome.error and "'caller_name' is a required property" in outcome.error
    assert "after 2 attempts" in outcome.error


def test_an_unreachable_llm_is_an_error_not_an_exception():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0)
    outcome = asyncio.run(extract_returns(SCHEMA, TRANSCRIPT, client=client, model="m", max_attempts=2,
                                          timeout_sec=2))
    assert outcome.returns is None and "LLM request failed" in outcome.error


def test_an_agents_returns_resolve_to_a_schema():
    from cb.config.models import AgentSpec, ReturnSchemaSpec

    named = AgentSpec(instructions="x", returns="front-desk")
    inline = AgentSpec.model_validate({"instructions": "x", "returns": {"schema": SCHEMA}})
    schemas = {"front-desk": ReturnSchemaSpec.model_validate({"schema": SCHEMA})}
    assert schema_for(named.returns, schemas) == SCHEMA
    assert schema_for(inline.returns, {}) == SCHEMA
    assert schema_for(None, {}) is None


def test_a_model_that_refuses_json_schema_is_asked_in_json_mode_with_the_schema_in_the_prompt():
    server = ScriptedLLMServer(parse({"turns": [], "returns": [GOOD], "json_schema": False})).start()
    try:
        outcome = extract(server)
    finally:
        server.stop()
    assert outcome.returns == GOOD and outcome.attempts == 2
    first, second = server.requests
    assert first["response_format"]["type"] == "json_schema"
    assert second["response_format"] == {"type": "json_object"}
    assert '"appointment_at"' in second["messages"][0]["content"]
