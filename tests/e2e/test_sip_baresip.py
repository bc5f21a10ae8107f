"""Issue 14's "done when" against baresip, a SIP phone nobody here wrote: baresip calls the
front-desk agent on a ``provider: sip`` Number and speaks a caller line (Piper, as its
microphone), and the runner places a call to a baresip that auto-answers; in both, what baresip
recorded is transcribed by Whisper and the agent's words are in it."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from cb.runner.calls.records import open_records

from . import baresip
from .harness import start_runner
from .test_sip import NUMBER, sip_number, udp_port

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not baresip.installed(),
                                 reason="baresip missing: apt-get install baresip-core (.ci/run installs it)")]


def speech():
    from cb.plugins.local import speech as local_speech

    return local_speech


def words(text: str) -> str:
    return re.sub(r"[^a-z ]", "", text.lower())


def wait_for_record(runner, status: str = "completed", timeout: float = 30):
    deadline = time.monotonic() + timeout
    calls = []
    while time.monotonic() < deadline:
        calls = open_records(runner.state_dir).list(10, None)
        if calls and calls[0].status == status:
            return calls[0]
        time.sleep(0.2)
    raise AssertionError(f"no {status} call record: {calls}")


def test_baresip_calls_the_agent_and_hears_the_greeting_and_the_answer(tmp_path, project):
    port = udp_port()
    sip_number(project, port)
    runner = start_runner(project, tmp_path / "state", env={"CB_DRAIN_SECS": "2"})
    line = baresip.write_wav(tmp_path / "caller.wav", speech().synthesize("What are your opening hours?"),
                             lead_secs=5, tail_secs=14)
    phone = baresip.Baresip(tmp_path / "baresip", udp_port(), line)
    try:
        assert runner.apply(project)[0] == 0
        phone.start(f"/dial sip:{NUMBER}@127.0.0.1:{port}", seconds=40).wait(60)
        heard = words(speech().transcribe(phone.heard()))
        assert "thanks for calling" in heard and "smile" in heard, (heard, phone.log.read_text()[-2000:])
        # the answer to the caller's line: the agent heard baresip over RTP
        assert "weekdays" in heard or "saturday" in heard or "sundays" in heard, heard
        record = wait_for_record(runner)
        assert record.end_reason == "caller_hangup" and record.to_number == NUMBER
    finally:
        phone.stop()
        runner.stop()


def test_the_runner_places_a_call_to_a_baresip_that_answers_and_hears_the_greeting(tmp_path, project):
    from cb.client import Client

    sip_port, phone_port = udp_port(), udp_port()
    (project / "agents" / "sip.yaml").write_text(
        "apiVersion: cb/v1\nkind: Number\nmetadata: {name: front-desk-out}\nspec:\n"
        f'  number: "{NUMBER}"\n  provider: sip\n  agent: front-desk\n  outbound_calls: true\n'
        f'  options: {{listen: "127.0.0.1:{sip_port}", proxy: "127.0.0.1:{phone_port}"}}\n')
    runner = start_runner(project, tmp_path / "state", env={"CB_DRAIN_SECS": "2"})
    line = baresip.write_wav(tmp_path / "callee.wav", speech().synthesize("Hello?"), lead_secs=1, tail_secs=10)
    phone = baresip.Baresip(tmp_path / "baresip", phone_port, line, answer=True, user="+14155550142").start(seconds=60)
    try:
        assert runner.apply(project)[0] == 0
        time.sleep(1)  # baresip up
        with Client(runner.url) as client:
            call = client.calls.create(agent="front-desk", to="+14155550142", from_=NUMBER)
            final = client.calls.wait(call.id, timeout=60)
        time.sleep(1)  # baresip closes its recording when the call ends
        heard = words(speech().transcribe(phone.heard()))
        assert "thanks for calling" in heard and "smile" in heard, (heard, phone.log.read_text()[-2000:])
        assert final.status == "completed" and final.sip_response_code == 200, final
        assert final.answered_by == "human" and final.provider_call_id
        record = open_records(runner.state_dir).get(call.id)
        assert record.sip_call_id == final.provider_call_id and record.codec == "PCMU"
        assert record.remote_party == f"+14155550142@127.0.0.1:{phone_port}"
    finally:
        phone.stop()
        runner.stop()
