"""`cb runner --watch`: a valid edit serves the next call; an invalid one is refused and the last
good revision keeps answering calls."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

from cb.contracts.voice_webhook_auth import local_token, sign
from cb.plugins.local.caller import Line, SimulatedCaller
from cb.runner.calls.records import open_records

from .harness import start_runner, write_project

pytestmark = pytest.mark.slow

FORM = {"CallSid": "CA" + "2" * 32, "AccountSid": "AC" + "0" * 32, "From": "+15005550006",
        "To": "+14155550100", "Direction": "inbound"}


def until(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def live_agent(runner):
    revisions = httpx.get(runner.url + "/v1/history", params={"address": "agent.front-desk", "content": True}).json()["revisions"]
    return revisions[-1] if revisions else None


def revision_answering(runner) -> str:
    url = runner.url + "/twilio/voice"
    form = {**FORM, "CallSid": "CA" + uuid.uuid4().hex}  # a fresh call each time: a CallSid is admitted once
    resp = httpx.post(url, data=form, headers={"X-Twilio-Signature": sign(url, form, local_token(runner.state_dir, create=False))})
    return resp.text.split('name="revision" value="')[1].split('"')[0]


def test_invalid_edit_is_refused_and_the_last_good_revision_keeps_serving(tmp_path, project, llm):
    runner = start_runner(project, tmp_path / "state", "--watch", str(project / "agents"))
    try:
        first = until(lambda: live_agent(runner))
        assert first["source"] == "watch"

        write_project(project, llm_url=llm.url, instructions="Version two.")
        good = until(lambda: (rev := live_agent(runner)) and rev["serial"] > first["serial"] and rev)
        assert good["content"]["spec"]["instructions"] == "Version two.\n" and good["source"] == "watch"
        assert revision_answering(runner) == good["hash"]  # the next call gets it at once

        (project / "agents" / "front-desk.yaml").write_text(
            (project / "agents" / "front-desk.yaml").read_text().replace("instructions:", "instructionz:"))
        status = until(lambda: (w := httpx.get(runner.url + "/v1/watch").json()["watch"]) and not w["ok"] and w)
        assert any("instructionz" in p for p in status["problems"]), status
        assert live_agent(runner)["hash"] == good["hash"]

        caller = SimulatedCaller(runner.url, local_token(runner.state_dir, create=False), to_number="+14155550100",
                                 lines=[Line("No thank you, goodbye.")])
        result = asyncio.run(caller.run())
        rec = open_records(runner.state_dir).get(result.call_id)
        assert rec.agent_revision == good["hash"] and rec.status == "completed"
        assert llm.requests and all(r["messages"][0]["content"] == "Version two.\n" for r in llm.requests)
    finally:
        runner.stop()
