"""A whole call through a real runner process: webhook, TwiML, Media Streams WebSocket paced at
20 ms, Silero VAD, Whisper, the scripted LLM over HTTP, Piper, and back; both sides' ears checked."""

from __future__ import annotations

import asyncio

import pytest

from cb.contracts.voice_webhook_auth import local_token
from cb.plugins.local.caller import Line, SimulatedCaller
from cb.runner.calls.records import open_records

pytestmark = pytest.mark.slow


def place(runner, lines, **kw):
    caller = SimulatedCaller(runner.url, local_token(runner.state_dir, create=False), to_number="+14155550100",
                             lines=lines, **kw)
    return asyncio.run(caller.run())


NUMBERS = "zero one two three four five six seven eight nine ten eleven twelve".split()


def words(text: str) -> str:
    """What Whisper heard, lower-cased, without punctuation, small numbers spelled out: it writes
    "six" as "6" or "6 o'clock" from one run to the next."""
    plain = "".join(c for c in text.lower().replace(":", " ") if c.isalnum() or c == " ").split()
    return " ".join(NUMBERS[int(w)] if w.isdigit() and int(w) < len(NUMBERS) else w for w in plain)


def test_a_local_call_end_to_end(runner, project, llm):
    code, out = runner.apply(project)
    assert code == 0, out
    result = place(runner, [Line("Hi, I would like to book an appointment."), Line("No thank you, goodbye.")])
    assert result.refused is None
    heard = [words(h.text) for h in result.transcript if h.role == "agent"]
    assert any("thanks for calling bright smile" in h and "how can i help" in h for h in heard), result.transcript
    assert any("what day would you like" in h for h in heard), result.transcript
    assert any("bye" in h for h in heard), result.transcript  # Whisper: "goodbye", "good bye" or "bye bye"
    assert result.ended_by == "agent"  # end_call hung up after the goodbye was heard

    record = open_records(runner.state_dir).get(result.call_id)
    assert record.status == "completed" and record.end_reason == "end_call"
    assert record.agent == "agent.front-desk" and len(record.agent_revision) >= 12
    said = " ".join(words(t["text"]) for t in record.transcript if t["role"] == "caller")
    assert "book an appointment" in said and "bye" in said
    assert len(record.turns) == 2 and all(t["total_ms"] > 0 for t in record.turns)
    # The LLM was sent the rendered instructions, and the caller's words as Whisper heard them.
    system = llm.requests[0]["messages"][0]
    assert system == {"role": "system", "content": "You are the front desk of Bright Smile Dental.\n"}
    assert any(t["function"]["name"] == "end_call" for t in llm.requests[0]["tools"])


def test_a_silent_caller_is_hung_up_on_after_the_silence_timeout(runner, project, llm):
    from .harness import write_project

    write_project(project, llm_url=llm.url, silence=3)
    code, out = runner.apply(project)
    assert code == 0, out
    result = place(runner, [], hangup_after_secs=15)  # listens to the greeting, then says nothing
    assert result.ended_by == "agent"
    record = open_records(runner.state_dir).get(result.call_id)
    assert (record.status, record.end_reason) == ("completed", "silence_timeout")
    assert llm.requests == []  # nobody spoke, nothing was asked of the model


def test_a_call_is_ended_at_its_maximum_duration(runner, project, llm):
    from .harness import write_project

    write_project(project, llm_url=llm.url, max_duration=10)
    code, out = runner.apply(project)
    assert code == 0, out
    lines = [Line("Hi I would like to book an appointment.")] * 6  # more than ten seconds of talk
    result = place(runner, lines)
    assert result.ended_by == "agent"
    record = open_records(runner.state_dir).get(result.call_id)
    assert (record.status, record.end_reason) == ("completed", "max_duration")
