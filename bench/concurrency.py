"""Section 3: how many simultaneous calls one runner process holds on this machine.

Every step starts a fresh runner (scripted providers at published latencies, the local Silero VAD,
the Twilio serializer) and places N calls, arriving 10 a second, each speaking a few turns after
its own pause (0.3-1.5 s), so turns do not all end in the same frame. A step passes when every call got through, turn-latency p95 is within 1.5x of the one-call
figure measured first in the same run, and the agent's outbound frames keep their 20 ms pacing
(frames late for Twilio's playout, p99 < 20 ms: ``analyse.late``; the inter-arrival jitter of
earlier runs is reported beside it, and counts the catch-up of a sender with a lead against it). The answer is the largest N that passed. Steps stop at the first
failure or when the time budget is spent.

Beside each step: the runner's CPU (share of one core) and memory (resident, its workers included),
the runner's event-loop lag (sampled from /readyz), and the benchmark caller's own CPU and send
lateness: the callers share the two cores, so they are part of the load and of the noise.

The same ladder runs, in one run, against each of ``targets``: ``cb`` (the runner with ``--workers
N`` for each N of ``workers``: 1 is one process), ``cb-before`` (one process with the call path's
cuts undone: ``CB_LEAN=0 CB_VAD_BATCH=0``, for before/after in one run) and ``stock`` (stock pipecat 1.14 with the same
providers, bench/stock_pipecat.py); the report gives each one's largest N and the ratio cb/stock.
The admission control is off in these runners (``CB_ADMISSION=off``): the ladder looks for where
calls degrade, which admission exists to stay below.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from typing import Any

import httpx

from . import analyse
from .stock_pipecat import StockStack
from .place import place_many, run
from .stack import Stack
from .turns import stack_for, turn_steps

P95_RATIO, JITTER_P99_MS = 1.5, 20.0
FULL_STEPS = (1, 10, 25, 50, 75, 100, 150, 200)
QUICK_STEPS = (1, 10, 25)


def cpu_seconds(pid: int) -> float:
    """CPU of ``pid`` and its live descendants (a runner with --workers is a supervisor and its workers)."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        children = open(f"/proc/{pid}/task/{pid}/children").read().split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") + sum(cpu_seconds(int(c)) for c in children)


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its live descendants, MB."""
    try:
        kb = next(int(line.split()[1]) for line in open(f"/proc/{pid}/status") if line.startswith("VmRSS:"))
        children = open(f"/proc/{pid}/task/{pid}/children").read().split()
    except (OSError, StopIteration):
        return 0.0
    return kb / 1024 + sum(rss_mb(int(c)) for c in children)


async def sample_lag(url: str, until: asyncio.Event, out: list[float], pid: int | None = None,
                     rss: list[float] | None = None) -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        while not until.is_set():
            try:
                out.append(float((await client.get(url + "/readyz")).json().get("loop_lag_ms") or 0))
            except (httpx.HTTPError, ValueError):
                pass
            if pid is not None and rss is not None:
                rss.append(rss_mb(pid))
            await asyncio.sleep(1.0)


def make_stack(target: str, profile: str, n: int, env: dict[str, str], workers: int = 1) -> Any:
    if target == "stock":
        return StockStack()
    env = {"CB_MAX_CALLS": str(n + 10), "CB_ADMISSION": "off", **env}
    if target == "cb-before":  # the call path before issue 16's cuts: pipecat's defaults, one VAD run a call
        env.update(CB_LEAN="0", CB_VAD_BATCH="0")
    stack = stack_for(profile, env=env)
    stack.runner_args = ("--workers", str(workers))
    return stack


def step(n: int, turns: int, profile: str, env: dict[str, str], target: str = "cb", workers: int = 1) -> dict[str, Any]:
    with make_stack(target, profile, n, env, workers) as stack:
        lag: list[float] = []
        rss: list[float] = []

        async def go():
            done = asyncio.Event()
            sampler = asyncio.create_task(sample_lag(stack.url, done, lag, stack.runner_pid, rss))
            try:
                # Calls arrive 10 a second and each waits its own 0.3-1.5 s before speaking, so turns
                # spread out as real traffic does instead of all N ending in the same 20 ms.
                return await place_many(stack, n, lambda i: turn_steps(turns, 300 + (i * 373) % 1200),
                                        stagger_s=0.1)
            finally:
                done.set()
                await sampler

        idle_rss = rss_mb(stack.runner_pid)
        cpu0, me0, t0 = cpu_seconds(stack.runner_pid), resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        traces = run(go())
        wall = time.monotonic() - t0
        cpu1, me1 = cpu_seconds(stack.runner_pid), resource.getrusage(resource.RUSAGE_SELF)
    totals, jitters, jitters_all, send_lag, lates = [], [], [], [], []
    for trace in traces:
        totals += [r["total_ms"] for r in analyse.turns(trace, None)]
        lates += analyse.late(trace)
        jitters += analyse.jitter(trace)
        jitters_all += analyse.jitter(trace, skip_start=False)
        send_lag += [x * 1000 for x in trace.send_lag]
    failed = [t.error or t.refused for t in traces if t.error or t.refused]
    return {"calls": n, "turns": len([t for t in totals if t is not None]), "failed_calls": len(failed),
            "refused_calls": sum(1 for t in traces if t.refused and "<Reject" in t.refused),
            "failures": sorted(set(failed))[:5], "total_ms": analyse.summary(totals),
            "jitter_ms": analyse.summary(jitters), "jitter_incl_preroll_ms": analyse.summary(jitters_all),
            "late_ms": analyse.summary(lates), "frames_late": sum(1 for x in lates if x >= 1.0),
            "frames": len(lates), "wall_s": round(wall, 1),
            "runner_cpu_pct": round(100 * (cpu1 - cpu0) / wall, 1),
            "runner_cpu_pct_per_call": round(100 * (cpu1 - cpu0) / wall / n, 2),
            "runner_rss_mb": round(max(rss), 1) if rss else None, "runner_rss_mb_idle": round(idle_rss, 1),
            "runner_rss_mb_per_call": round((max(rss) - idle_rss) / n, 2) if rss else None,  # above the idle process
            "caller_cpu_pct": round(100 * ((me1.ru_utime + me1.ru_stime) - (me0.ru_utime + me0.ru_stime)) / wall, 1),
            "caller_send_lag_ms": analyse.summary(send_lag), "runner_loop_lag_ms": analyse.summary(lag)}


def judge(row: dict[str, Any], base_p95: float | None) -> dict[str, Any]:
    p95 = row["total_ms"].get("p95")
    jit = row["late_ms"].get("p99")
    why = []
    if row["failed_calls"]:
        why.append(f"{row['failed_calls']} call(s) failed")
    if p95 is None or base_p95 is None or p95 > P95_RATIO * base_p95:
        why.append(f"turn p95 {p95} ms > {P95_RATIO}x {base_p95} ms")
    if jit is None or jit >= JITTER_P99_MS:
        why.append(f"late p99 {jit} ms >= {JITTER_P99_MS} ms")
    return {"passed": not why, "why": why}


def main(quick: bool = False, steps: tuple[int, ...] | None = None, budget_s: float | None = None,
         profile: str = "b", env: dict[str, str] | None = None, log=print, keep_going: bool = False,
         targets: tuple[str, ...] = ("cb", "stock"), workers: tuple[int, ...] = (1,)) -> dict[str, Any]:
    """Every target's ladder in one run; the first (cb, the first of ``workers``) is the headline,
    its figures at the top level as before, and ``compare`` holds each one's and the ratio."""
    ladders = [(f"cb workers={w}", "cb", w) for w in workers if "cb" in targets]
    ladders += [("cb before (CB_LEAN=0 CB_VAD_BATCH=0)", "cb-before", 1)] if "cb-before" in targets else []
    ladders += [("stock pipecat", "stock", 1)] if "stock" in targets else []
    results = {}
    for name, target, w in ladders:
        log(f"  concurrency: {name}")
        results[name] = ladder(quick, steps, budget_s, profile, env, log, keep_going, target, w)
    head = dict(next(iter(results.values())))
    stock = results.get("stock pipecat")
    head["compare"] = {name: summary(r) for name, r in results.items()}
    for name, r in results.items():
        if stock and r is not stock and stock["max_calls_held"]:
            head["compare"][name]["ratio_to_stock"] = round(r["max_calls_held"] / stock["max_calls_held"], 2)
    head["ladders"] = results
    first_cb = next((r for r in results.values() if r["server"] == "cb"), None)
    if first_cb and first_cb["max_calls_held"] > 1:
        head["overload"] = overload(first_cb, profile, env, log)
    for name, c in head["compare"].items():
        log(f"  concurrency: {name}: held {c['max_calls_held']} (ratio to stock {c.get('ratio_to_stock', '-')}), "
            f"cpu per call at 10 {c['cpu_pct_per_call_at_10']}% / at the ceiling {c['cpu_pct_per_call_at_ceiling']}%, "
            f"memory per call at 10 {c['rss_mb_per_call_at_10']} MB / at the ceiling {c['rss_mb_per_call_at_ceiling']} MB")
    return head


def overload(held: dict[str, Any], profile: str, env: dict[str, str] | None, log) -> dict[str, Any]:
    """1.5x the ceiling the ladder found, with admission on as a runner starts by default: how many
    calls were refused (Twilio ``<Reject>``), and whether the calls taken stayed within the targets."""
    n = -(-held["max_calls_held"] * 3 // 2)
    env = {**(env or {}), "CB_ADMISSION": "on", "CB_MAX_CALLS": "500"}  # the measured signals decide, not the cap
    try:
        row = step(n, held["turns_per_call"], profile, env, "cb", held["workers"])
    except RuntimeError as exc:  # the runner did not start: say so, keep the ladders
        log(f"  overload: {n} calls: could not start: {str(exc).splitlines()[0][:200]}")
        return {"calls": n, "error": str(exc)[:300]}
    row["failed_calls"] -= row["refused_calls"]  # a refusal is admission working; judge the calls it took
    row["judged"] = judge(row, held["single_call_p95_ms"])
    log(f"  overload: {n} calls at 1.5x the {held['max_calls_held']} held (workers={held['workers']}), admission on: "
        f"{row['refused_calls']} refused, turn p95 {row['total_ms'].get('p95')} ms, late p99 {row['late_ms'].get('p99')} ms, "
        f"{'calls taken within target' if row['judged']['passed'] else 'FAIL: ' + '; '.join(row['judged']['why'])}")
    return row


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """Largest N held, and per-call CPU (% of a core) and memory (MB) at 10 calls and at that N."""
    rows = {r["calls"]: r for r in result["steps"]}
    at10, top = rows.get(10) or {}, rows.get(result["max_calls_held"]) or {}
    return {"max_calls_held": result["max_calls_held"], "single_call_p95_ms": result["single_call_p95_ms"],
            "cpu_pct_per_call_at_10": at10.get("runner_cpu_pct_per_call"),
            "cpu_pct_per_call_at_ceiling": top.get("runner_cpu_pct_per_call"),
            "rss_mb_per_call_at_10": at10.get("runner_rss_mb_per_call"),
            "rss_mb_per_call_at_ceiling": top.get("runner_rss_mb_per_call"),
            "rss_mb_at_ceiling": top.get("runner_rss_mb")}


def ladder(quick: bool, steps: tuple[int, ...] | None, budget_s: float | None, profile: str,
           env: dict[str, str] | None, log, keep_going: bool, target: str, workers: int) -> dict[str, Any]:
    steps = steps or (QUICK_STEPS if quick else FULL_STEPS)
    budget_s = budget_s or (120 if quick else 600)
    turns = 2 if quick else 4
    started, rows, base_p95, held = time.monotonic(), [], None, 0
    for n in steps:
        if time.monotonic() - started > budget_s:
            log(f"  concurrency: time budget {budget_s:.0f} s spent; stopping before N={n}")
            break
        try:
            row = step(n, turns if n > 1 else 2 * turns, profile, env or {}, target, workers)  # a steadier baseline
        except RuntimeError as exc:  # the server did not start (a loaded machine): a failed step, not a lost run
            log(f"  N={n:<4} could not start: {str(exc).splitlines()[0][:200]}")
            row = {"calls": n, "turns": 0, "failed_calls": n, "failures": [str(exc)[:300]], "total_ms": {"n": 0},
                   "jitter_ms": {"n": 0}, "jitter_incl_preroll_ms": {"n": 0}, "late_ms": {"n": 0},
                   "frames_late": 0, "frames": 0, "runner_cpu_pct": 0.0,
                   "runner_cpu_pct_per_call": None, "caller_cpu_pct": 0.0, "caller_send_lag_ms": {"n": 0},
                   "runner_loop_lag_ms": {"n": 0}, "wall_s": 0.0}
        if not rows:  # the first step is the baseline, even when it failed (then nothing is held)
            base_p95 = row["total_ms"].get("p95")
        row["judged"] = judge(row, base_p95)
        rows.append(row)
        log(f"  N={n:<4} turn p95 {row['total_ms'].get('p95')} ms, late p99 {row['late_ms'].get('p99')} ms "
            f"({row['frames_late']} of {row['frames']} frames heard late), jitter p99 {row['jitter_ms'].get('p99')} ms, "
            f"runner cpu {row['runner_cpu_pct']}%, {'ok' if row['judged']['passed'] else 'FAIL: ' + '; '.join(row['judged']['why'])}")
        if not row["judged"]["passed"] and not keep_going:
            break
    held = rows[0]["calls"] if rows and not rows[0]["failed_calls"] else 0
    for row in rows[1:]:  # the largest N up to which every step passed
        if not row["judged"]["passed"]:
            break
        held = row["calls"]
    # Contention-robust: what one call costs the runner, and so how many one core could carry at
    # 80 % busy if nothing else ran on it (a projection, printed as one).
    costs = sorted(r["runner_cpu_pct_per_call"] for r in rows if r["calls"] >= 10 and r["runner_cpu_pct_per_call"])
    per_call = costs[len(costs) // 2] if costs else None
    return {"server": target, "workers": workers, "profile": profile, "turns_per_call": turns, "single_call_p95_ms": base_p95, "max_calls_held": held,
            "target": 100, "met": held >= 100, "steps": rows, "env": env or {},
            "cpu_pct_per_call": per_call, "projected_calls_per_core_at_80pct": round(80 / per_call) if per_call else None}
