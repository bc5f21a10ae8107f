"""Benchmark the control plane on a generated fleet of 1,000 agents, 1,000 tools and 500 numbers.

    python bench/control_bench.py [--runs 5]

Starts a real runner (free loopback port, temporary state), applies the fleet once, then measures
each as a user runs it (a fresh `cb` process: interpreter start, imports, loading and validating
every file, refreshing from the runner, diffing, rendering):

  plan (no changes)            target < 2 s
  apply (no changes)
  plan, one agent changed
  apply, one agent changed     target < 0.5 s for the runner-side apply (lock, apply, unlock),
                               reported beside the whole command
  hot swap                     POST /v1/apply -> the call path's subscriber has the new snapshot

Writes bench/results/control.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from generate import generate  # noqa: E402

CB = [sys.executable, "-c", "from cb.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CPU: dict[str, list[float]] = {}


def run(args: list[str], cwd: Path, env: dict[str, str], ok: tuple[int, ...] = (0,), label: str | None = None) -> float:
    """Wall seconds of one `cb` process; its CPU seconds go to CPU[label] (steadier on a busy machine)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    out = subprocess.run([*CB, *args], cwd=cwd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if label:
        CPU.setdefault(label, []).append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if out.returncode not in ok:
        raise SystemExit(f"cb {' '.join(args)} exited {out.returncode}:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return took


def stats(times: list[float]) -> dict[str, float]:
    return {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3), "max_s": round(max(times), 3)}


def in_process_apply(url: str, project: Path) -> float:
    """The runner-side cost of applying one changed agent: plan in-process, then time lock+apply+unlock."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from cb.apply.run import apply_plan
    from cb.client import RunnerClient
    from cb.config.project import load_project
    from cb.plan.planner import make_plan

    loaded, _ = load_project(cwd=project)
    with RunnerClient(url) as client:
        plan = make_plan(loaded, client)
        assert len(plan.pending) == 1, [c.address for c in plan.pending]
        started = time.perf_counter()
        apply_plan(client, plan, source="apply", cause={}, applied_by="bench", echo=lambda line: None)
        return time.perf_counter() - started


def hot_swap_notify(runs: int) -> list[float]:
    """Milliseconds from POST /v1/apply (one changed agent) to the call path's subscriber holding the
    new snapshot, in-process as the call path sees it. Target: well under 100 ms."""
    from fastapi.testclient import TestClient

    from cb.runner.app import Settings, create_app

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(state_dir=Path(tmp)), extensions=[])
        seen: list[float] = []
        app.state.cb.store.subscribe(lambda snap: seen.append(time.perf_counter()))
        with TestClient(app) as client:
            for n in range(runs + 1):
                doc = {"apiVersion": "cb/v1", "kind": "Agent", "metadata": {"name": "a"},
                       "spec": {"instructions": f"Version {n}."}}
                body = {"changes": [{"address": "agent.a", "kind": "Agent", "name": "a",
                                     "action": "update" if n else "create", "content": doc}]}
                started = time.perf_counter()
                client.post("/v1/apply", json=body).read()
                if n:  # the first is a create (warm-up)
                    out.append((seen[-1] - started) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--tools", type=int, default=1000)
    parser.add_argument("--numbers", type=int, default=500)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "fleet"
        generate(project, args.agents, args.tools, args.numbers)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "CB_RUNNER_URL": url, "CB_APPLIED_BY": "bench"}
        runner = subprocess.Popen([*CB, "runner", "--port", str(port), "--state", str(Path(tmp) / "state")],
                                  cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise SystemExit("runner did not start")
                    time.sleep(0.1)
            first = run(["apply", "--auto-approve"], project, env)
            results: dict[str, object] = {"initial_apply_s": round(first, 3)}
            results["plan_noop"] = stats([run(["plan", "--detailed-exitcode"], project, env, label="plan_noop") for _ in range(args.runs)])
            results["apply_noop"] = stats([run(["apply", "--auto-approve"], project, env, label="apply_noop") for _ in range(args.runs)])
            files = sorted((project / "agents").glob("agents-*.yaml"))
            plan_one, apply_one, runner_side = [], [], []
            for n in range(args.runs):
                target = files[n % len(files)]
                target.write_text(target.read_text().replace("Keep replies under two sentences.",
                                                             f"Keep replies short (edit {n}).", 1))
                plan_one.append(run(["plan", "--detailed-exitcode"], project, env, ok=(2,), label="plan_one_change"))
                apply_one.append(run(["apply", "--auto-approve"], project, env, label="apply_one_change_command"))
                target.write_text(target.read_text().replace(f"(edit {n})", f"(edit {n}b)", 1))
                runner_side.append(in_process_apply(url, project))
            results["plan_one_change"] = stats(plan_one)
            results["apply_one_change_command"] = stats(apply_one)
            results["apply_one_change_runner_side"] = stats(runner_side)
            for label, times in CPU.items():
                results[label]["cpu_median_s"] = round(statistics.median(times), 3)
            notify = hot_swap_notify(max(args.runs, 20))
            results["hot_swap_notify_ms"] = {"median": round(statistics.median(notify), 2), "max": round(max(notify), 2)}
        finally:
            runner.terminate()
            runner.wait(10)

    report = {"benchmark": f"control plane, {args.agents} agents + {args.tools} tools + {args.numbers} numbers",
              "runs": args.runs, "cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
              **results,
              "targets": {"plan_s": 2.0, "apply_one_change_s": 0.5},
              "met": {"plan": results["plan_noop"]["median_s"] < 2.0 and results["plan_one_change"]["median_s"] < 2.0,
                      "apply_one_change": results["apply_one_change_runner_side"]["median_s"] < 0.5}}
    out = Path(__file__).parent / "results" / "control.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
