"""A prompt hot-swapped 20 times while 5 calls are in progress: no call is dropped, and each call
talks to exactly one revision from its first word to its last."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys

import httpx
import pytest

from cb.contracts.voice_webhook_auth import local_token
from cb.plugins.local.caller import Line, SimulatedCaller
from cb.runner.calls.records import open_records

from .harness import start_runner, write_project

pytestmark = pytest.mark.slow

INSTRUCTIONS = "Revision {n}. Call {{{{ call.id }}}}."
SEEN = re.compile(r"Revision (\d+)\. Call (call_\w+)\.")


def apply_revision(runner, project, llm_url: str, n: int) -> tuple[int, str]:
    write_project(project, llm_url=llm_url, instructions=INSTRUCTIONS.format(n=n))
    done = subprocess.run([sys.executable, "-m", "cb", "apply", "--auto-approve", "--runner", runner.url],
                          cwd=project, capture_output=True, text=True)
    return done.returncode, done.stdout[-300:] + done.stderr[-2000:]


@pytest.fixture
def runner(tmp_path, project):
    # This test is about revisions, not admission: on a busy 2-core machine five calls with Whisper
    # and Piper on both ends make the loop late enough for admission control to refuse a call.
    r = start_runner(project, tmp_path / "state", env={"CB_MAX_LOOP_LAG_MS": "10000"})
    yield r
    r.stop()


def test_twenty_swaps_during_five_calls(runner, project, llm):
    assert apply_revision(runner, project, llm.url, 0)[0] == 0
    token = local_token(runner.state_dir, create=False)

    async def call(delay: float):
        await asyncio.sleep(delay)
        caller = SimulatedCaller(runner.url, token, to_number="+14155550100", turn_timeout_secs=15,
                                 lines=[Line("Hi I would like to book an appointment."), Line("No thank you goodbye.")])
        return await caller.run()

    async def swaps():
        codes = []
        for n in range(1, 21):
            codes.append(await asyncio.to_thread(apply_revision, runner, project, llm.url, n))
            await asyncio.sleep(0.3)
        return codes

    async def main():
        return await asyncio.gather(swaps(), *(call(1.5 * i) for i in range(5)))

    codes, *results = asyncio.run(main())
    assert [c for c, _ in codes] == [0] * 20, [out for c, out in codes if c]

    # Every call reached its natural end: the agent said goodbye and hung up (end_call).
    records = open_records(runner.state_dir)
    for result in results:
        assert result.refused is None and result.ended_by == "agent", result
        rec = records.get(result.call_id)
        assert (rec.status, rec.end_reason) == ("completed", "end_call"), rec

    # Which revision number each applied content hash carries.
    history = httpx.get(runner.url + "/v1/history", params={"address": "agent.front-desk", "content": True}).json()
    number_of = {r["hash"]: int(SEEN.search(r["content"]["spec"]["instructions"].replace("{{ call.id }}", "call_x")).group(1))
                 for r in history["revisions"]}
    assert len(number_of) == 21

    # Each call's every LLM request carried one revision: the one its record says it pinned.
    seen: dict[str, set[int]] = {}
    for request in llm.requests:
        n, call_id = SEEN.search(request["messages"][0]["content"]).groups()
        seen.setdefault(call_id, set()).add(int(n))
    pinned = {}
    for result in results:
        rec = records.get(result.call_id)
        assert seen[result.call_id] == {number_of[rec.agent_revision]}, (result.call_id, seen[result.call_id])
        pinned[result.call_id] = number_of[rec.agent_revision]
    assert len(set(pinned.values())) >= 2, pinned  # the swaps really happened between calls
    assert all(len(seen[c]) == 1 for c in pinned) and sum(1 for r in llm.requests) >= 10
