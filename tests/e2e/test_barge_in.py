"""Barge-in through a real runner: the caller talks over a long answer; the runner sends Twilio
`clear`, stops the answer, and responds to what the caller said instead. An "mm-hm" over the
answer does neither: the agent goes on, and the LLM never gets a turn for it (backchannel.py).
Speech is Piper's, heard by the runner's Whisper."""

from __future__ import annotations

import asyncio
import time

import pytest

from cb.config.models import BACKCHANNELS
from cb.contracts.voice_webhook_auth import local_token
from cb.plugins.local.caller import Line, SimulatedCaller
from cb.runner.calls.backchannel import Phrases
from cb.runner.calls.records import open_records

from .harness import start_runner
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


def test_a_backchannel_over_the_agent_does_not_stop_it_and_wait_stop_does(tmp_path, project, llm):
    # one worker: what is measured is the call, not which worker the webhook lands on (with two, a
    # call to worker 1 right after the apply was refused "no Number resource" at the time of writing)
    runner = start_runner(project, tmp_path / "state", env={"CB_WORKERS": "1"})
    try:
        check_mm_hm_and_wait_stop(runner, project, llm)
    finally:
        runner.stop()


def check_mm_hm_and_wait_stop(runner, project, llm):
    code, out = runner.apply(project)
    assert code == 0, out
    caller = SimulatedCaller(runner.url, local_token(runner.state_dir, create=False), to_number="+14155550100",
                             lines=[Line("What are your opening hours?"),
                                    # "Okay.": Whisper tiny hears Piper's "Mm-hm." on the phone as other
                                    # words now and then ("And the MHCM."), which is a real interruption
                                    # to the runner; bench/bargein.py measures every backchannel
                                    Line("Okay.", barge_in_after_ms=1500),
                                    Line("Wait, stop, I have a question.", barge_in_after_ms=7000),
                                    Line("No thank you, goodbye.")])
    result = asyncio.run(caller.run())
    assert result.refused is None, (out, runner.log.read_text()[-3000:])
    # one interruption cleared Twilio's buffer: the "wait", not the "okay" (a clear after each
    # would be two); "I have a question" after a pause may clear the short answer to "wait, stop"
    assert result.clears >= 1 and len(result.clear_ms) == 1, (result.clear_ms, result.transcript, [
        line for line in runner.log.read_text().splitlines() if "over the agent" in line or "interrupts" in line])
    heard = " ".join(words(h.text) for h in result.transcript if h.role == "agent")
    said = [m["content"] for body in llm.requests for m in body["messages"] if m["role"] == "user"]
    why = (heard, said)
    assert "until six" in heard
    assert "saturdays" in heard, why  # the answer went on after the "okay" ...
    assert "after hours line" not in heard  # ... until "wait, stop" silenced it
    assert "sure" in heard, why  # the agent answered the interruption ("Sure, go ahead.")
    # ... and the LLM never had a turn for the "okay": no user message of acknowledgements only
    assert any("wait" in words(t) for t in said) and not any(Phrases(BACKCHANNELS).only(t) for t in said), said
    deadline = time.monotonic() + 10  # the record ends a moment after the caller saw the hang-up
    while (rec := open_records(runner.state_dir).get(result.call_id)).status != "completed" \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    assert rec.status == "completed" and rec.end_reason == "end_call", (rec.status, rec.end_reason)
