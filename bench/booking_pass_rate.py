"""Issue 18.3: the front-desk booking scenario's pass rate on the default stack's LLM (SmolLM2-135M,
served by llama-cpp-python), in text mode. Not run in CI: each run is ~25 s of CPU.

Runs ``cb test scenarios/front-desk/books.yaml --llm agent --repeat N --format json`` (the
agent's real prompt, tools and returns extraction; the booking API stubbed) and judges each run by
the issue's definition, which is looser than the scenario's own exact-argument assertions:
booked (book_appointment called, answered ok, with a slot that parses as a date-time and a caller
name), returns filled (no null field), and the call ended (end_call). Beside them, stricter: how
many bookings were for the slot asked (Tuesday 10:00) and the name said (Jane Doe). Prints the
figures and writes bench/results/booking_pass_rate-LABEL.json. Also the ``booking`` section of
bench/run.py (20 runs, 3 with ``--quick``), beside the figure before issue 18.3.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/booking_pass_rate.py -n 20 --label after
    .venv/bin/python bench/run.py --sections booking --quick
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = "scenarios/front-desk/books.yaml"


def booked(run: dict) -> bool:
    for call in run.get("tool_calls") or []:
        args = call.get("arguments") or {}
        if call.get("name") != "book_appointment" or not call.get("ok") or not args.get("caller_name"):
            continue
        try:
            datetime.fromisoformat(str(args.get("slot")))
            return True
        except ValueError:
            continue
    return False


def slot_right(run: dict) -> bool:
    """Beyond the issue's definition: a booking for the slot the caller asked for (Tuesday at ten)."""
    for call in run.get("tool_calls") or []:
        if call.get("name") == "book_appointment" and call.get("ok"):
            try:
                slot = datetime.fromisoformat(str((call.get("arguments") or {}).get("slot")))
            except ValueError:
                continue
            if slot.strftime("%A %H:%M") == "Tuesday 10:00":
                return True
    return False


def judge(run: dict) -> dict[str, bool]:
    returns = run.get("returns")
    return {"booked": booked(run),
            "returns_filled": isinstance(returns, dict) and bool(returns) and None not in returns.values(),
            "ended": bool(run.get("ended_call"))}


def _runs(n: int, jobs: int) -> list[dict]:
    """``n`` runs, split over ``jobs`` ``cb test`` processes (each with its own LLM server)."""
    shares = [n // jobs + (i < n % jobs) for i in range(jobs)]
    procs = [subprocess.Popen([sys.executable, "-m", "cb", "test", SCENARIO, "--llm", "agent", "--repeat", str(k),
                               "--format", "json"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k in shares if k]
    runs = []
    for proc in procs:
        out, err = proc.communicate()
        try:
            runs += json.loads(out)["scenarios"][0]["runs"]
        except ValueError:
            raise SystemExit(f"cb test gave no report (exit {proc.returncode}): {err[-1500:]}") from None
    return runs


def measure(n: int, label: str, jobs: int = 1) -> dict:
    """``n`` runs of the scenario, judged; written to bench/results/booking_pass_rate-LABEL.json."""
    runs = _runs(n, max(1, min(jobs, n)))
    verdicts = [judge(r) for r in runs]
    summary = {"label": label, "runs": len(runs),
               "passed": sum(all(v.values()) for v in verdicts),
               **{k: sum(v[k] for v in verdicts) for k in ("booked", "returns_filled", "ended")},
               "tool_calls": sum(len(r.get("tool_calls") or []) for r in runs),
               "slot_right": sum(slot_right(r) for r in runs),
               "name_right": sum(any((c.get("arguments") or {}).get("caller_name") == "Jane Doe"
                                     for c in r.get("tool_calls") or []) for r in runs),
               "errors": sum(1 for r in runs if r.get("error")),
               "scenario_assertions_passed": sum(1 for r in runs if r.get("passed")),
               "seconds_per_run": sorted(r.get("seconds") or 0 for r in runs)[len(runs) // 2] if runs else None,
               "loadavg": [round(x, 2) for x in os.getloadavg()]}
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / f"booking_pass_rate-{label}.json").write_text(
        json.dumps({"summary": summary, "verdicts": verdicts, "runs": runs}, indent=2) + "\n")
    return summary


def before() -> dict | None:
    """The figure measured before issue 18.3's changes (bench/results/booking_pass_rate-before.json)."""
    path = ROOT / "bench" / "results" / "booking_pass_rate-before.json"
    return json.loads(path.read_text())["summary"] if path.is_file() else None


def section(quick: bool) -> dict:
    """bench/run.py's ``booking`` section: 20 runs (3 with ``--quick``), beside the figure before."""
    return {"now": measure(3 if quick else 20, "quick" if quick else "after"), "before": before()}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20, help="runs")
    ap.add_argument("--label", default="current", help="what is measured (e.g. before / after a prompt change)")
    ap.add_argument("--jobs", type=int, default=1, help="cb test processes at once (a loaded machine's share)")
    args = ap.parse_args()
    print(json.dumps(measure(args.n, args.label, args.jobs), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
