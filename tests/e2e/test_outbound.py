"""Issue 12's "done when", on the local provider: outbound calls placed through the runner's API
(the article's ``client.calls.create``) reach a simulated callee over Media Streams. A person gets
the agent (with the call's context) and the webhook carries returns; an answering machine is
waited out and left the rendered voicemail after its beep, which the recording proves."""

from __future__ import annotations

import io
import os
import time
import wave

import httpx
import numpy as np
import pytest

from cb.client import Client, RunnerError
from cb.plugins.scripted.script import parse
from cb.plugins.scripted.server import ScriptedLLMServer

pytest.importorskip("faster_whisper", reason="the local stack: pip install 'cb[local]'")
pytest.importorskip("piper", reason="the local stack: pip install 'cb[local]'")

from cb.plugins.local import speech  # noqa: E402
from tests.e2e.harness import start_runner  # noqa: E402

pytestmark = pytest.mark.slow
os.environ.setdefault("HF_HUB_OFFLINE", "1")

RETURNS = {"confirmed": True, "first_name": "Maria"}
SCRIPT = {
    "turns": [
        {"match": "(?i)bye", "say": "Thank you, Maria. Goodbye!", "tool_calls": [{"name": "end_call"}]},
        {"say": "Wonderful, you are confirmed for Tuesday. Anything else?"},
    ],
    "returns": [RETURNS],
}

PROJECT = """\
apiVersion: cb/v1
kind: Agent
metadata: {{name: reminders}}
spec:
  greeting: "Hi {{{{ customer.first_name }}}}, this is Bright Smile Dental calling to confirm your visit on Tuesday."
  instructions: You call patients of Bright Smile Dental to confirm their appointments.
  pipeline:
    llm: {{provider: openai, model: scripted, options: {{base_url: "{llm}"}}}}
    turn: {{vad_stop_secs: 0.4}}
  tools: [end_call]
  returns: {{schema: {{type: object, properties: {{confirmed: {{type: boolean}}, first_name: {{type: string}}}},
             required: [confirmed, first_name], additionalProperties: false}}}}
  phone:
    voicemail: leave_message
    voicemail_message: "Hi {{{{ customer.first_name }}}}, this is Bright Smile Dental. Please call us back to confirm Tuesday."
    silence_timeout_sec: 20
    max_duration_sec: 90
  context:
    customer: {{type: object, required: true}}
  webhook: {{url: "{hook}/agent-hook", events: [call.completed, call.failed]}}
---
apiVersion: cb/v1
kind: Number
metadata: {{name: reminders-line}}
spec: {{number: "+14155550123", provider: local, agent: reminders, outbound_calls: true}}
"""

GREETING = "Hi, you've reached Maria. I can't take your call right now. Please leave a message after the tone."


@pytest.fixture
def fleet(tmp_path, receiver):
    hook = receiver([200])
    with ScriptedLLMServer(parse(SCRIPT)) as llm:
        project = tmp_path / "fleet"
        (project / "agents").mkdir(parents=True)
        (project / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: outbound\npaths: [agents]\n")
        (project / "agents" / "reminders.yaml").write_text(PROJECT.format(llm=llm.url, hook=hook.url))
        runner = start_runner(project, tmp_path / "state")
        try:
            code, out = runner.apply(project)
            assert code == 0, out
            yield runner, hook
        finally:
            runner.stop()


def channels(runner, call_id):
    raw = httpx.get(f"{runner.url}/v1/calls/{call_id}/recording.wav", timeout=10).content
    with wave.open(io.BytesIO(raw)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).reshape(-1, 2)
    return rate, pcm[:, 0], pcm[:, 1]


def voiced_windows(x, rate, level=500, win_ms=20):
    n = int(rate * win_ms / 1000)
    frames = x[: len(x) // n * n].reshape(-1, n).astype(np.float64)
    return np.sqrt((frames ** 2).mean(axis=1)) >= level  # one flag per 20 ms


def test_a_person_answers_an_outbound_call_with_context_and_the_webhook_has_returns(fleet):
    runner, hook = fleet
    with Client(runner.url) as client:
        call = client.calls.create(agent_id="reminders", to="+14155550199",
                                   webhook_url=hook.url + "/calls", context={"customer": {"first_name": "Maria"}},
                                   metadata={"crm_id": "lead-7"}, dialer="local",
                                   callee={"lines": ["Hello?", "Yes, that works. Thanks, bye."]})
        assert call.status == "queued" and call.direction == "outbound" and call.from_number == "+14155550123"
        final = client.calls.wait(call.id, timeout=90)
        # The runner ends the call (end_call) a moment before the carrier's final status callback
        # brings the SIP code and duration: wait for that callback too.
        deadline = time.monotonic() + 10
        while final.sip_response_code is None and time.monotonic() < deadline:
            time.sleep(0.1)
            final = client.calls.get(call.id)
    [delivery] = hook.wait_for(1, timeout=60)
    assert delivery.path == "/calls"  # the call's webhook_url, not the agent's
    body = delivery.json()
    assert body["status"] == "completed" and body["returns"] == RETURNS, body["returns_error"]
    assert body["answered_by"] == "human" and body["voicemail"] is None
    assert body["direction"] == "outbound" and body["to_number"] == "+14155550199"
    assert body["metadata"] == {"crm_id": "lead-7"} and body["provider_call_id"].startswith("CA")
    assert final.status == "completed" and final.answered_by == "human" and final.sip_response_code == 200
    said = " ".join(t["text"] for t in final.transcript if t["role"] in ("agent", "assistant", "bot"))
    assert "Hi Maria, this is Bright Smile Dental" in said, final.transcript  # the greeting, rendered with the call's context
    # The agent speaks within 2 s of the person's "Hello?" (FCC: else the call counts as abandoned).
    rate, caller, agent = channels(runner, call.id)
    c, a = voiced_windows(caller, rate), voiced_windows(agent, rate)
    hello_end = np.flatnonzero(c)[0] + np.argmin(c[np.flatnonzero(c)[0]:])  # first silent window after it
    first_agent = np.flatnonzero(a)[0]
    assert 0 < (first_agent - hello_end) * 0.02 < 2.0, (hello_end, first_agent)


def test_an_answering_machine_gets_the_rendered_voicemail_after_the_beep_and_nothing_over_its_greeting(fleet):
    runner, hook = fleet
    with Client(runner.url) as client:
        call = client.calls.create(agent="reminders", to="+14155550177", context={"customer": {"first_name": "Maria"}},
                                   dialer="local", callee={"machine": {"greeting": GREETING, "beep_after_ms": 500,
                                                                       "beep_hz": 1400, "beep_ms": 500}})
        final = client.calls.wait(call.id, timeout=90)
    [delivery] = hook.wait_for(1, timeout=60)
    body = delivery.json()
    assert delivery.path == "/agent-hook"
    assert body["answered_by"] == "machine_end_beep" and body["voicemail"] == "left_message"
    assert final.status == "completed" and final.end_reason == "voicemail"
    rate, caller, agent = channels(runner, call.id)
    c, a = voiced_windows(caller, rate), voiced_windows(agent, rate)
    beep_end = np.flatnonzero(c)[-1]  # the beep is the last thing the machine played
    assert a.any(), "the agent left no message"
    first_agent = np.flatnonzero(a)[0]
    assert first_agent > beep_end, "the agent spoke over the greeting or the beep"
    assert (first_agent - beep_end) * 0.02 < 4.0  # and did not wait long after it (0.3-1 s on a quiet machine)
    message = agent[first_agent * int(rate * 0.02):]
    pcm8k = speech.resample(message.tobytes(), rate, 8000)
    heard = speech.transcribe(pcm8k).lower()
    assert "call us back" in heard and "tuesday" in heard, heard


def test_bad_requests_are_refused_before_anything_dials(fleet):
    runner, _ = fleet
    with Client(runner.url) as client:
        cases = [
            (dict(agent="reminders", to="4155550199"), "to: not an E.164 number"),
            (dict(agent="nobody", to="+14155550199"), "agent.nobody is not applied"),
            (dict(agent="reminders", to="+14155550199", from_="+14155550999"), "is not a declared Number"),
            (dict(agent="reminders", to="+14155550199", context={"customer": "Maria"}),
             "context.customer: expected object"),
            (dict(agent="reminders", to="+14155550199", context={"customer": {}, "plan": 1}),
             "context.plan: not a declared context variable"),
        ]
        for kwargs, message in cases:
            with pytest.raises(RunnerError) as refused:
                client.calls.create(**kwargs)
            assert message in str(refused.value) and refused.value.status in (400, 404)
    assert httpx.get(runner.url + "/v1/calls").json()["calls"] == []  # nothing was dialled or recorded
