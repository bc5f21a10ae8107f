"""Two runners on one PostgreSQL behind HAProxy: calls held across both, and how long an apply
on one takes to be live on both.

    .venv/bin/python bench/multi_runner.py [--quick]
    .venv/bin/python bench/run.py --sections multi [--quick]

The fleet is the multi-runner test's (tests/support/multi_runner.py): a throwaway PostgreSQL,
two `cb runner --workers 1` processes on it, HAProxy round-robin in front. ``calls`` callers dial
through HAProxy and hold the line (so each call's webhook and stream land on different runners);
then ``applies`` applies on runner A, each changing the agent's greeting, while every runner is
polled every 10 ms from before the apply. "live" is the first poll that sees the new serial,
minus the revision's commit time (same clock): an upper bound, within one poll.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(quick: bool = False, log: Any = print) -> dict[str, Any]:
    from cb.client import RunnerClient
    from tests.support.multi_runner import HAPROXY, Fleet, database, first_seen
    from tests.support.pg import postgres

    if HAPROXY is None:
        return {"error": "HAProxy (Debian package haproxy) is not installed"}
    n_calls, n_applies = (4, 3) if quick else (10, 5)
    with postgres() as server, database(server) as db, tempfile.TemporaryDirectory(prefix="cb-multi-") as tmp:
        fleet = Fleet(Path(tmp), db)
        try:
            code, out = fleet.a.apply(fleet.project)
            if code != 0:
                return {"error": out[-1000:]}
            return asyncio.run(_measure(fleet, n_calls, n_applies, RunnerClient, first_seen, log))
        finally:
            fleet.stop()


async def _measure(fleet: Any, n_calls: int, n_applies: int, client: Any, first_seen: Any, log: Any) -> dict[str, Any]:
    callers = [fleet.call() for _ in range(n_calls)]
    tasks = [asyncio.create_task(c.call()) for c in callers]
    deadline = time.monotonic() + 90
    while not all(c.greeted or c.closed.is_set() or c.trace.refused for c in callers) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    held = sum(c.greeted and not c.closed.is_set() for c in callers)
    crossed = 0
    for c in callers:
        if c.trace.call_id:
            admitted_by, claimed_by = await asyncio.to_thread(fleet.claim, c.trace.call_id)
            crossed += bool(claimed_by and claimed_by != admitted_by)
    log(f"multi: {held}/{n_calls} calls held across two runners ({crossed} streamed by the other runner)")
    agent = fleet.project / "agents" / "front-desk.yaml"
    live_a, live_b = [], []
    for i in range(n_applies):
        serial = (await asyncio.to_thread(client(fleet.a.url).state))["serial"]
        agent.write_text(agent.read_text().replace("revision", f"revision {i}", 1))
        seen: dict[str, float] = {}

        def watch(name: str, url: str) -> None:
            seen[name] = first_seen(url, serial)

        watchers = [threading.Thread(target=watch, args=(n, r.url)) for n, r in (("a", fleet.a), ("b", fleet.b))]
        for w in watchers:
            w.start()
        code, out = await asyncio.to_thread(fleet.a.apply, fleet.project)
        for w in watchers:
            await asyncio.to_thread(w.join, 30)
        if code != 0:
            return {"error": out[-1000:]}
        history = await asyncio.to_thread(client(fleet.a.url).history, "agent.front-desk")
        committed = datetime.fromisoformat(history[-1]["applied_at"].replace("Z", "+00:00")).timestamp()
        live_a.append((seen["a"] - committed) * 1000)
        live_b.append((seen["b"] - committed) * 1000)
    still = sum(c.greeted and not c.closed.is_set() for c in callers)
    for c in callers:
        c.hang_up.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    both = [max(a, b) for a, b in zip(live_a, live_b)]
    refused = [c.trace.refused for c in callers if c.trace.refused]
    result = {"runners": 2, "refused": refused[:3], "calls": n_calls, "calls_held": held, "calls_held_through_applies": still,
              "streams_on_the_other_runner": crossed, "applies": n_applies,
              "live_on_a_ms": [round(x, 1) for x in live_a], "live_on_b_ms": [round(x, 1) for x in live_b],
              "live_on_both_ms_median": round(statistics.median(both), 1), "live_on_both_ms_max": round(max(both), 1),
              "loadavg": [round(x, 2) for x in os.getloadavg()]}
    log(f"multi: apply on A live on both in {result['live_on_both_ms_median']} ms median, "
        f"{result['live_on_both_ms_max']} ms max ({n_applies} applies, {still} calls held throughout)")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4 calls and 3 applies instead of 10 and 5")
    print(json.dumps(main(parser.parse_args().quick), indent=2))
