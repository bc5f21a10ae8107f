"""Barge-in through a real runner: the caller talks over a long answer; the runner sends Twilio
`clear`, stops the answer, and responds to what the caller said instead."""

from __future__ import annotations

import asyncio

import pytest

from cb.contracts.voice_webhook_auth import local_token
from cb.plugins.local.caller import Line, SimulatedCaller
from cb.runner.calls.records import open_records

from .test_call import words

pytestmark = pytest.mark.slow


def test_the_caller_interrupts_a_long_answer(runner, project):
    code, out = runner.apply(project)
    assert code == 0, out
    caller = SimulatedCaller(runner.url, local_token(runner.state_dir, create=False), to_number="+14155550100",
                             lines=[Line("What are your opening hours?"),
                                    Line("Wait, I have a question.", barge_in_after_ms=2500),
                                    Line("No thank you, goodbye.")])
    result = asyncio.run(caller.run())
    assert result.refused is None
    assert result.clears >= 1 and len(result.clear_ms) == 1  # the interruption cleared Twilio's buffer
    heard = " ".join(words(h.text) for h in result.transcript if h.role == "agent")
    assert "until six" in heard
    assert "after hours line" not in heard  # the end of the long answer was never played
    assert "sure" in heard  # ... the agent answered the interruption instead ("Sure, go ahead.")
    rec = open_records(runner.state_dir).get(result.call_id)
    assert rec.status == "completed" and rec.end_reason == "end_call"
    assert "after hours" not in " ".join(t["text"] for t in rec.transcript if t["role"] == "agent")
