"""Issue 18.3: the front-desk booking scenario's pass rate on the default stack's LLM (SmolLM2-135M,
served by llama-cpp-python), in text mode. Not run in CI: each run is ~25 s of CPU.

Runs ``cb test scenarios/front-desk/books.yaml --llm agent --repeat N --format json`` (the
agent's real prompt, tools and returns extraction; the booking API stubbed) and judges each run by
the issue's definition, which is looser than the scenario's own exact-argument assertions:
booked (book_appointment called, answered ok, with a slot that parses as a date-time and a caller
name), returns filled (no null field), and the call ended (end_call). Prints the figures and
writes bench/results/booking_pass_rate.json.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/booking_pass_rate.py -n 20
"""

from __future__ import annotations

import argparse
import json
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


def judge(run: dict) -> dict[str, bool]:
    returns = run.get("returns")
    return {"booked": booked(run),
            "returns_filled": isinstance(returns, dict) and bool(returns) and None not in returns.values(),
            "ended": bool(run.get("ended_call"))}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20, help="runs")
    ap.add_argument("--label", default="current", help="what is measured (e.g. before / after a prompt change)")
    args = ap.parse_args()
    out = subprocess.run([sys.executable, "-m", "cb", "test", SCENARIO, "--llm", "agent", "--repeat", str(args.n),
                          "--format", "json"], cwd=ROOT, capture_output=True, text=True)
    report = json.loads(out.stdout)
    runs = report["scenarios"][0]["runs"]
    verdicts = [judge(r) for r in runs]
    summary = {"label": args.label, "runs": len(runs),
               "passed": sum(all(v.values()) for v in verdicts),
               **{k: sum(v[k] for v in verdicts) for k in ("booked", "returns_filled", "ended")},
               "tool_calls": sum(len(r.get("tool_calls") or []) for r in runs),
               "scenario_assertions_passed": sum(1 for r in runs if r.get("passed"))}
    print(json.dumps(summary, indent=2))
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / f"booking_pass_rate-{args.label}.json").write_text(
        json.dumps({"summary": summary, "verdicts": verdicts, "runs": runs}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
