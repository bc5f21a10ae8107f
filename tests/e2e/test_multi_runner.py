"""Two runner processes on one real PostgreSQL, behind a real HAProxy: one fleet.

- A call whose voice webhook one runner answers and whose media stream the other takes (HAProxy
  round-robin sends each connection to the next runner): the pending call is claimed through the
  database.
- An apply on runner A is live on runner B within a second (measured from the revision's commit
  time), while a call admitted before it keeps the revision it was admitted with, even when its
  stream reaches B after the apply.
- The runner holding a call's stream is SIGKILLed mid-call: the other runner ends the record as
  failed (``runner_lost``) and delivers its webhook, exactly once.

Skips only where the PostgreSQL server or HAProxy binaries are absent (.ci/run installs both).
"""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import datetime
from typing import Iterator

import httpx
import pytest

from cb.client import RunnerClient

from tests.support.multi_runner import HAPROXY, Fleet, HoldingCaller, database, first_seen
from tests.support.pg import pg_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, pg_server) -> Iterator[Fleet]:  # noqa: F811
    if HAPROXY is None:
        pytest.skip("HAProxy (Debian package haproxy) is not installed")
    with database(pg_server) as db:
        fleet = Fleet(tmp_path_factory.mktemp("multi"), db)
        try:
            code, out = fleet.a.apply(fleet.project)
            assert code == 0, out
            # B follows the state by polling: a first call through the balancer may reach it before
            # it saw the apply ("This number is not in service"). Start once both serve it.
            serial = httpx.get(fleet.a.url + "/healthz", timeout=5).json()["serial"]
            deadline = time.monotonic() + 10
            while httpx.get(fleet.b.url + "/healthz", timeout=5).json()["serial"] != serial:
                assert time.monotonic() < deadline, "runner B never followed runner A's apply"
                time.sleep(0.05)
            yield fleet
        finally:
            fleet.stop()


async def hold(caller: HoldingCaller, until_greeted: float = 60) -> asyncio.Task:
    task = asyncio.create_task(caller.call())
    await caller.until(lambda: caller.greeted or caller.trace.refused is not None, until_greeted)
    assert caller.greeted, f"no greeting: {caller.trace.refused}"
    return task


def deliveries(fleet: Fleet, call_id: str, timeout: float = 30) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = [r for r in fleet.hooks.requests if r.json().get("call_id") == call_id]
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"no webhook for {call_id} in {timeout}s")


def test_a_call_answered_by_one_runner_is_streamed_by_the_other(fleet):
    async def scenario():
        caller = fleet.call()
        task = await hold(caller)
        caller.hang_up.set()
        await task
        return caller.trace.call_id

    call_id = asyncio.run(scenario())
    admitted_by, claimed_by = fleet.claim(call_id)
    assert claimed_by is not None and admitted_by != claimed_by  # round-robin: the webhook on one, the stream on the other
    assert f"call {call_id} taken over" in fleet.by_id(claimed_by).log.read_text()
    [hook] = deliveries(fleet, call_id)
    assert hook.json()["status"] == "completed"
    record = httpx.get(fleet.by_id(admitted_by).url + f"/v1/calls/{call_id}", timeout=10).json()
    assert record["status"] == "completed" and record["end_reason"] == "caller_hangup"


def test_an_apply_on_one_runner_is_live_on_the_other_within_a_second_and_calls_stay_pinned(fleet):
    a, b = fleet.a, fleet.b
    before = httpx.get(b.url + "/healthz", timeout=5).json()["serial"]
    old = RunnerClient(a.url).state()

    async def scenario():
        # Admitted on A before the apply; its stream reaches B only after B runs the new serial.
        caller = fleet.call(a.url)
        target = await caller._webhook()
        assert target is not None, caller.trace.refused
        stream_url, params = target
        agent = fleet.project / "agents" / "front-desk.yaml"
        agent.write_text(agent.read_text().replace("first revision", "second revision"))
        watching = asyncio.create_task(asyncio.to_thread(first_seen, b.url, before))  # from before the apply
        code, out = await asyncio.to_thread(a.apply, fleet.project)
        assert code == 0, out
        seen = await watching
        # The stream of the call admitted before the apply, on B.
        caller._webhook = lambda: _target(stream_url.replace(a.url.split("://")[1], b.url.split("://")[1]), params)
        task = await hold(caller)
        caller.hang_up.set()
        await task
        return params, seen

    params, seen = asyncio.run(scenario())
    history = RunnerClient(a.url).history("agent.front-desk")
    committed = datetime.fromisoformat(history[-1]["applied_at"].replace("Z", "+00:00")).timestamp()
    live_after = seen - committed
    print(f"apply on A live on B after {live_after * 1000:.0f} ms")
    assert 0 <= live_after < 1.0
    old_rev = params["revision"]
    assert old_rev != history[-1]["hash"] and old["serial"] == before
    # B planned the call again against the serial A pinned: the old revision answered it.
    assert f"[{params['call_id']} agent.front-desk@{old_rev[:12]}] call started" in b.log.read_text()
    [hook] = deliveries(fleet, params["call_id"])
    assert hook.json()["revision"] == old_rev


async def _target(url, params):
    return url, params


def test_a_runner_killed_mid_call_loses_no_record_and_no_webhook(fleet):
    async def scenario():
        caller = fleet.call()
        task = await hold(caller)
        _, holder = fleet.claim(caller.trace.call_id)
        victim = fleet.by_id(holder)
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(10)
        await asyncio.wait_for(task, 30)  # the stream dies with its runner
        return caller.trace.call_id, victim

    call_id, victim = asyncio.run(scenario())
    other = fleet.b if victim is fleet.a else fleet.a
    [hook] = deliveries(fleet, call_id, timeout=60)
    body = hook.json()
    assert (body["status"], body["end_reason"]) == ("failed", "runner_lost")
    record = httpx.get(other.url + f"/v1/calls/{call_id}", timeout=10).json()
    assert (record["status"], record["end_reason"]) == ("failed", "runner_lost")
    time.sleep(3)  # long enough for a second delivery, were the fleet to owe one
    keys = [r.headers["CB-Idempotency-Key"] for r in fleet.hooks.requests]
    assert len(keys) == len(set(keys)), keys  # every webhook once per idempotency key, across runners
    assert len([r for r in fleet.hooks.requests if r.json().get("call_id") == call_id]) == 1
