"""`cb runner --workers 2`: two worker processes on one port behave as one runner.

An apply is live on both workers; calls whose voice webhook and media stream reach different
workers are answered; a worker killed (SIGKILL) mid-call is started again, the call it held is
recorded as failed (never left in progress), the others finish; SIGTERM drains and stops all.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time

import httpx
import pytest

from cb.contracts.voice_webhook_auth import local_token
from cb.plugins.local.twilio_peer import TwilioPeer
from cb.runner.calls.records import open_records

from .harness import start_runner

pytestmark = pytest.mark.slow

SERVING = re.compile(r"\[worker (\d+)\] worker \d+ \(pid (\d+)\) serving")


class Holder(TwilioPeer):
    """A caller who stays on the line, silent, for ``hold`` seconds (or until the runner hangs up)."""

    def __init__(self, *args, hold: float, until_heard: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.hold, self.until_heard = hold, until_heard

    async def talk(self) -> None:
        await self.until(lambda: self.until_heard and bool(self.trace.media_at), self.hold)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_workers_serve_one_port_and_a_killed_worker_loses_no_call(tmp_path, project):
    state = tmp_path / "state"
    runner = start_runner(project, state, "--workers", "2")
    try:
        wait_for(lambda: "2 workers" in runner.log.read_text(), 120, "both workers serving")
        pids = dict(SERVING.findall(runner.log.read_text()))
        assert set(pids) == {"0", "1"}, pids
        code, out = runner.apply(project)
        assert code == 0, out
        time.sleep(1.0)  # every worker follows the state: an apply on one is live on all within a second
        serials = {httpx.get(runner.url + "/healthz").json()["serial"] for _ in range(30)}
        assert serials == {1}, serials
        token = local_token(state, create=False)

        async def calls(n: int, hold: float, during=None, until_heard: bool = False):
            peers = [Holder(runner.url, token, to_number="+14155550100", hold=hold, until_heard=until_heard)
                     for _ in range(n)]
            tasks = [asyncio.create_task(p.call()) for p in peers]
            result = None
            if during is not None:
                result = await during(peers)
            await asyncio.gather(*tasks)
            return peers, result

        async def kill_the_worker_of_a_live_call(peers):
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                log = runner.log.read_text()
                for p in peers:
                    found = p.trace.call_id and re.search(
                        rf"\[worker (\d)\] \[{p.trace.call_id}[^\]]*\] call started", log)
                    if found:
                        await asyncio.sleep(1.0)  # the call runs on that worker
                        os.kill(int(pids[found.group(1)]), signal.SIGKILL)
                        return p.trace.call_id, found.group(1)
                await asyncio.sleep(0.1)
            raise AssertionError("no call started")

        peers, (killed_call, killed_worker) = asyncio.run(calls(4, 8.0, kill_the_worker_of_a_live_call))
        assert all(p.trace.refused is None for p in peers), [p.trace.refused for p in peers]
        died = f"worker {killed_worker} (pid {pids[killed_worker]}) died"
        wait_for(lambda: died in runner.log.read_text(), 10, "the supervisor to see the worker die")
        # started again: a new pid serves as that worker
        wait_for(lambda: len(SERVING.findall(runner.log.read_text())) >= 3, 120, "the worker started again")
        records = open_records(state)

        def final(call_id):
            rec = records.get(call_id)
            return rec if rec is not None and rec.status not in ("ringing", "in-progress", "queued", "initiated") else None

        rec = wait_for(lambda: final(killed_call), 30, f"{killed_call} to be recorded as ended")
        assert (rec.status, rec.end_reason) == ("failed", "runner_lost"), rec
        for p in peers:  # every call has a final record: none left in progress
            assert wait_for(lambda: final(p.trace.call_id), 30, f"{p.trace.call_id} ended").status in (
                "completed", "failed")
        # the restarted worker and the other one take calls again
        again, _ = asyncio.run(calls(3, 20.0, until_heard=True))  # each hears its greeting
        assert all(p.trace.refused is None and p.trace.media_at for p in again), [p.trace.refused for p in again]
        runner.proc.send_signal(signal.SIGTERM)
        assert runner.proc.wait(60) is not None
        for pid in [int(p) for _, p in SERVING.findall(runner.log.read_text())]:
            assert not os.path.exists(f"/proc/{pid}") or "zombie" in open(f"/proc/{pid}/status").read().lower()
    finally:
        runner.stop()


def test_outbound_calls_reach_the_worker_that_placed_them(tmp_path, receiver):
    """An outbound call lives in the memory of the worker that placed it; its callbacks, its
    answer and its media stream reach any worker and are carried to that one (cb.runner.routing)."""
    from cb.client import Client
    from cb.plugins.scripted.script import parse
    from cb.plugins.scripted.server import ScriptedLLMServer

    from .test_outbound import PROJECT, SCRIPT

    hook = receiver([200])
    with ScriptedLLMServer(parse(SCRIPT)) as llm:
        project = tmp_path / "fleet"
        (project / "agents").mkdir(parents=True)
        (project / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: outbound\npaths: [agents]\n")
        (project / "agents" / "reminders.yaml").write_text(PROJECT.format(llm=llm.url, hook=hook.url))
        runner = start_runner(project, tmp_path / "state", "--workers", "2")
        try:
            wait_for(lambda: "2 workers" in runner.log.read_text(), 120, "both workers serving")
            assert runner.apply(project)[0] == 0
            time.sleep(0.5)
            with Client(runner.url) as client:
                ids = [client.calls.create(agent_id="reminders", to=f"+1415555019{i}", dialer="local",
                                           webhook_url=hook.url + "/calls", context={"customer": {"first_name": "Maria"}},
                                           callee={"lines": ["Hello?", "Yes, that works. Thanks, bye."]}).id
                       for i in range(4)]
                finals = [client.calls.wait(call_id, timeout=120) for call_id in ids]
            assert [f.status for f in finals] == ["completed"] * 4, [(f.status, f.end_reason, f.error) for f in finals]
            deliveries = hook.wait_for(4, timeout=60)
            assert sorted(d.json()["call_id"] for d in deliveries) == sorted(ids)
            log = runner.log.read_text()
            placed_by = {m.group(1) for m in re.finditer(r"\[worker (\d)\] call call_\w+: agent.reminders calls", log)}
            started_on = {m.group(1) for m in re.finditer(r"\[worker (\d)\] \[call_\w+ agent.reminders[^\]]*\] call started", log)}
            assert placed_by and started_on  # the log names the worker of each (which ones: the kernel's choice)
        finally:
            runner.stop()


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for a reaper that a container may not have."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_workers_stop_when_their_supervisor_is_killed(tmp_path, project):
    runner = start_runner(project, tmp_path / "state", "--workers", "2")
    try:
        wait_for(lambda: "2 workers" in runner.log.read_text(), 120, "both workers serving")
        pids = [int(pid) for _, pid in SERVING.findall(runner.log.read_text())]
        assert len(pids) == 2 and all(_alive(pid) for pid in pids)
        runner.proc.kill()  # SIGKILL: the supervisor can tell nobody
        runner.proc.wait(10)
        wait_for(lambda: not any(_alive(pid) for pid in pids), 20, "the orphaned workers to stop")
        assert "the supervisor (pid %d) is gone" % runner.proc.pid in runner.log.read_text()
    finally:
        runner.stop()
