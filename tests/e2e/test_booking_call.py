"""Issue 5's "done when": the front-desk agent, called locally by a scripted caller who books a
slot, produces a signed webhook whose returns hold intent, appointment_at and caller_name, with
the tool call listed and a playable recording. A real runner process, the offline speech stack,
the scripted LLM over HTTP, a real booking API and a real webhook receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import os
import wave
from pathlib import Path

import httpx
import numpy as np
import pytest

from cb.contracts.webhook_signature import verify_signature
from cb.plugins.scripted.script import parse
from cb.plugins.scripted.server import ScriptedLLMServer

pytest.importorskip("faster_whisper", reason="the local stack: pip install 'cb[local]'")
pytest.importorskip("piper", reason="the local stack: pip install 'cb[local]'")

from cb.contracts.voice_webhook_auth import local_token  # noqa: E402
from cb.plugins.local.caller import Line, SimulatedCaller  # noqa: E402
from tests.e2e.harness import start_runner  # noqa: E402

pytestmark = pytest.mark.slow
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SECRET, TOKEN = "whsec_done_when", "booking-token-done-when"
SLOT = "2026-04-28T10:00:00-07:00"
RETURNS = {"intent": "booking", "appointment_at": SLOT, "caller_name": "Maria Gomez"}

SCRIPT = {
    "turns": [
        {"match": "(?i)bye", "say": "You're welcome. Goodbye!", "tool_calls": [{"name": "end_call"}]},
        {"say": "Of course. What day and time would you like, and may I have your name?"},
        {"match": "(?i)insurance", "say": "", "tool_calls": [{"name": "check_insurance", "arguments": {}}],
         "after_tool": "Can I help with anything else?"},
        {"match": "(?i)tuesday|\\bten\\b|\\b10\\b", "say": "", "tool_calls": [{"name": "book_appointment",
                                     "arguments": {"slot": SLOT, "caller_name": "Maria Gomez"}}],
         "after_tool": "You're booked for Tuesday at ten. Anything else?"},
    ],
    "returns": [RETURNS],
}

PROJECT = """\
apiVersion: cb/v1
kind: Agent
metadata: {{name: front-desk}}
spec:
  greeting: "Thanks for calling Bright Smile Dental. How can I help?"
  instructions: You are the front desk of Bright Smile Dental. Book appointments with book_appointment.
  pipeline:
    llm: {{provider: openai, model: scripted, options: {{base_url: "{llm}"}}}}
    turn: {{vad_stop_secs: 0.5}}
  tools: [book_appointment, check_insurance, end_call]
  returns: front-desk
  phone: {{silence_timeout_sec: 30, max_duration_sec: 120}}
  webhook:
    url: {hook}/calls
    secret: ${{env:FRONT_DESK_WEBHOOK_SECRET}}
    events: [call.completed]
---
apiVersion: cb/v1
kind: Tool
metadata: {{name: book_appointment}}
spec:
  description: Book an appointment for the caller at the given time slot.
  parameters:
    type: object
    properties:
      slot: {{type: string, format: date-time}}
      caller_name: {{type: string}}
    required: [slot]
  http:
    url: {booking}/appointments
    headers: {{Authorization: "Bearer ${{env:BOOKING_API_TOKEN}}"}}
    timeout_ms: 4000
  filler: {{phrase: "One moment while I check the calendar.", delay_ms: 1000}}
---
apiVersion: cb/v1
kind: Tool
metadata: {{name: check_insurance}}
spec:
  description: Check whether the caller's insurance is accepted.
  http: {{url: {insurance}/insurance, method: GET, timeout_ms: 1500}}
  failure_phrase: "I'm sorry, I can't check insurance right now."
---
apiVersion: cb/v1
kind: ReturnSchema
metadata: {{name: front-desk}}
spec:
  schema:
    type: object
    properties:
      intent: {{type: string, enum: [booking, question, cancellation, other]}}
      appointment_at: {{type: [string, "null"], format: date-time}}
      caller_name: {{type: [string, "null"]}}
    required: [intent, appointment_at, caller_name]
    additionalProperties: false
---
apiVersion: cb/v1
kind: Number
metadata: {{name: front-desk-main}}
spec: {{number: "+14155550100", provider: local, agent: front-desk}}
"""


def test_a_booked_call_ends_in_a_signed_webhook_with_returns_tool_calls_and_a_recording(tmp_path, receiver):
    """One call, so the suite pays for one: it also has no dead air. The booking API answers after
    2.5 s (its filler is due at 1 s); the insurance API never answers within its 1.5 s timeout."""
    hook = receiver([200])
    booking = receiver([("sleep", 2.5, 200)], reply={"booked": True, "id": "apt_42"})
    insurance = receiver([("sleep", 30, 200)])
    with ScriptedLLMServer(parse(SCRIPT)) as llm:
        project = tmp_path / "fleet"
        (project / "agents").mkdir(parents=True)
        (project / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: done-when\npaths: [agents]\n"
                                            "tools: {env: [BOOKING_*], allow_networks: [127.0.0.0/8]}\n")
        (project / "agents" / "front-desk.yaml").write_text(PROJECT.format(
            llm=llm.url, hook=hook.url, booking=booking.url, insurance=insurance.url))
        runner = start_runner(project, tmp_path / "state",
                              env={"FRONT_DESK_WEBHOOK_SECRET": SECRET, "BOOKING_API_TOKEN": TOKEN})
        try:
            code, out = runner.apply(project)
            assert code == 0, out
            caller = SimulatedCaller(runner.url, local_token(runner.state_dir, create=False),
                                     to_number="+14155550100", lines=[
                                         Line("Hi, I would like to book a cleaning."),
                                         Line("Tuesday at ten please, my name is Maria Gomez."),
                                         Line("Do you take my insurance?"),
                                         Line("No, that's all. Goodbye.")])
            result = asyncio.run(caller.run())
            assert result.refused is None, result.refused
            [delivery] = hook.wait_for(1, timeout=60)
            recording = httpx.get(f"{runner.url}/v1/calls/{result.call_id}/recording.wav", timeout=10)
        finally:
            runner.stop()

    # No dead air, as the caller heard it. Whisper's spelling varies ("checked the calendar", "your
    # book for", "endurance"), so each phrase is found by any of a few words it must contain.
    heard = " | ".join(h.text.lower() for h in result.transcript if h.role == "agent")

    def first(*words: str) -> int:
        found = [heard.find(w) for w in words if w in heard]
        return min(found) if found else -1

    filler = first("calendar", "one moment")
    booked = first("tuesday", "booked")
    sorry = first("can't check", "cannot check", "right now")
    assert filler >= 0 and booked >= 0 and sorry >= 0, heard
    assert filler < booked < sorry, f"filler, then the booking, then the apology: {heard}"

    verify_signature(SECRET, delivery.body, delivery.headers["CB-Signature"])
    body = delivery.json()
    assert body["call_id"] == result.call_id and body["status"] == "completed"
    assert body["returns"] == RETURNS, body["returns_error"]
    assert body["agent"] == "agent.front-desk" and body["revision"]
    calls = {c["name"]: c for c in body["tool_calls"]}
    assert calls["book_appointment"]["ok"] is True and calls["book_appointment"]["latency_ms"] >= 2500
    assert calls["check_insurance"]["ok"] is False and calls["check_insurance"]["status"] == "timeout"
    assert booking.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert booking.requests[0].json() == {"slot": SLOT, "caller_name": "Maria Gomez"}
    assert body["recording_url"] == f"{runner.url}/v1/calls/{result.call_id}/recording.wav"

    assert recording.status_code == 200
    with wave.open(io.BytesIO(recording.content)) as w:
        assert w.getnchannels() == 2 and w.getnframes() > 0
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert np.abs(audio[:, 0]).max() > 1000, "the caller is on the left channel"
    assert np.abs(audio[:, 1]).max() > 1000, "the agent is on the right channel"
    assert SECRET not in Path(runner.log).read_text() and TOKEN not in Path(runner.log).read_text()

