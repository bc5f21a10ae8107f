"""Preemptive generation on a real call: the STT's final transcript beats the VAD's silence, the
LLM is asked at once, and a guess that wants a tool is withdrawn, so the tool runs exactly once,
for the confirmed turn, and the caller still hears its answer."""

from __future__ import annotations

import pytest

from cb.plugins.local.caller import Line
from cb.plugins.scripted.script import parse
from cb.plugins.scripted.server import ScriptedLLMServer
from cb.runner.calls.records import open_records
from tests.support.receiver import Receiver

from .harness import call_once
from .test_call import words

pytestmark = pytest.mark.slow

BOOK = "I would like to book Tuesday at ten."
AGENT = """\
apiVersion: cb/v1
kind: Agent
metadata: {{name: front-desk}}
spec:
  greeting: "Thanks for calling. How can I help?"
  instructions: You are the front desk.
  pipeline:
    # The scripted STT finalises after 300 ms of quiet (endpoint_ms; shorter, and a pause inside
    # the spoken line splits it in two, each given the next scripted transcript); the VAD waits 600.
    stt: {{provider: scripted, options: {{endpoint_ms: 300, transcripts: ["{book}", "No thank you goodbye."]}}}}
    llm: {{provider: openai, model: scripted, options: {{base_url: "{llm}"}}}}
    turn: {{vad_stop_secs: 0.6}}
  tools: [book_appointment, end_call]
---
apiVersion: cb/v1
kind: Tool
metadata: {{name: book_appointment}}
spec:
  description: Book an appointment.
  parameters:
    type: object
    properties: {{slot: {{type: string}}}}
    required: [slot]
  http: {{url: "{booking}/appointments", method: POST, timeout_ms: 3000}}
---
apiVersion: cb/v1
kind: Number
metadata: {{name: main}}
spec: {{number: "+14155550100", provider: local, agent: front-desk}}
"""

SCRIPT = {
    "turns": [
        {"match": "(?i)bye", "say": "Goodbye!", "tool_calls": [{"name": "end_call"}]},
        {"match": "(?i)book", "tool_calls": [{"name": "book_appointment", "arguments": {"slot": "Tuesday 10:00"}}],
         "after_tool": "You are booked for Tuesday at ten."},
    ],
    "default": "Sorry?",
}


def test_a_guess_that_wants_a_tool_runs_the_tool_once_for_the_confirmed_turn(tmp_path):
    booking = Receiver(script=[200], reply={"booked": True})
    try:
        with ScriptedLLMServer(parse(SCRIPT)) as llm:
            runner, result = call_once(tmp_path, AGENT.format(book=BOOK, llm=llm.url, booking=booking.url),
                                       [Line(BOOK), Line("No thank you goodbye.")])
    finally:
        booking.stop()

    def last_user(request):
        users = [m for m in request["messages"] if m["role"] == "user"]
        return users[-1]["content"] if users else ""

    asked_to_book = [r for r in llm.requests if last_user(r) == BOOK and r["messages"][-1]["role"] == "user"]
    # Once on the transcript, while the VAD still waited (withdrawn: it wanted the tool), once for the turn.
    assert len(asked_to_book) == 2, [(last_user(r), r["messages"][-1]["role"]) for r in llm.requests]
    assert len(booking.requests) == 1 and booking.requests[0].json() == {"slot": "Tuesday 10:00"}
    # The booking's answer reached the LLM once (for the confirmed turn). Whether end_call's own
    # result is asked about races the hang-up it causes, so it is not counted.
    tool_results = [r["messages"][-1]["content"] for r in llm.requests if r["messages"][-1]["role"] == "tool"]
    assert sum('"booked": true' in str(c) for c in tool_results) == 1, tool_results
    rec = open_records(runner.state_dir).get(result.call_id)
    heard = " ".join(words(h.text) for h in result.transcript if h.role == "agent")
    assert "tuesday at ten" in heard and "bye" in heard, heard  # Whisper: "you are booked" or "your book"
    assert rec.end_reason == "end_call"
