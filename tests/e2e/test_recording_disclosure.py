"""Recording consent on a real outbound call (local provider, Whisper and Piper): the callee's
state (California, from the number) is in the policy's all-party-consent list, so the agent says
the disclosure before its greeting and the recording holds both channels until it has played; the
call record has the decision."""

from __future__ import annotations

import numpy as np
import pytest

from cb.client import Client
from cb.plugins.scripted.script import parse
from cb.plugins.scripted.server import ScriptedLLMServer

from tests.e2e.harness import start_runner
from tests.e2e.test_outbound import PROJECT, SCRIPT, channels, voiced_windows

pytestmark = pytest.mark.slow
DISCLOSURE = "This call is recorded."
POLICY = f"""\
---
apiVersion: cb/v1
kind: CompliancePolicy
metadata: {{name: rec}}
spec:
  recording_consent: {{required: false, disclosure: "{DISCLOSURE}", all_party_states: [CA]}}
"""


@pytest.fixture
def fleet(tmp_path, receiver):
    hook = receiver([200])
    with ScriptedLLMServer(parse(SCRIPT)) as llm:
        project = tmp_path / "fleet"
        (project / "agents").mkdir(parents=True)
        (project / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: outbound\npaths: [agents]\n")
        text = PROJECT.format(llm=llm.url, hook=hook.url).replace("  tools: [end_call]\n",
                                                                  "  tools: [end_call]\n  compliance: [rec]\n")
        (project / "agents" / "reminders.yaml").write_text(text + POLICY)
        runner = start_runner(project, tmp_path / "state")
        try:
            code, out = runner.apply(project)
            assert code == 0, out
            yield runner
        finally:
            runner.stop()


def test_the_disclosure_plays_first_and_the_recording_starts_after_it(fleet):
    runner = fleet
    with Client(runner.url) as client:
        call = client.calls.create(agent="reminders", to="+14155550199", context={"customer": {"first_name": "Maria"}},
                                   dialer="local", callee={"lines": ["Hello?", "Yes, that works. Thanks, bye."]})
        final = client.calls.wait(call.id, timeout=90)
    assert final.status == "completed"
    decision = final.compliance[-1]
    assert decision["rule"] == "recording_disclosure" and decision["outcome"] == "allowed"
    assert "the recording starts after it has played" in decision["detail"]
    export = client_export(runner, call.id)
    turns = [t for t in export["transcript"] if (t.get("speaker") or t.get("role")) == "agent"]
    assert turns[0]["text"].startswith(DISCLOSURE), turns[0]
    rate, caller, agent = channels(runner, call.id)
    held_until = int(turns[0]["end"] / 0.02)  # the first agent turn (disclosure and greeting) ended here
    c, a = voiced_windows(caller, rate), voiced_windows(agent, rate)
    assert not c[:held_until - 5].any() and not a[:held_until - 5].any()  # "Hello?" and the disclosure: not kept
    assert c[held_until:].any() and a[held_until:].any()  # the conversation after it is recorded


def client_export(runner, call_id):
    import httpx

    return httpx.get(f"{runner.url}/v1/calls/{call_id}/export", timeout=10).json()
