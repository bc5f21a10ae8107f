"""Per-turn latency of the local stack, through a real runner, measured on real calls.

    .venv/bin/python bench/calls_latency.py                 # local LLM (llama.cpp + SmolLM2)
    .venv/bin/python bench/calls_latency.py --llm scripted  # the scripted LLM (no model time)

Starts `cb runner` on a throwaway state folder with the chosen profile, applies a one-agent
project, places CALLS simulated calls of LINES caller lines each (Piper speech, 20 ms pacing), and
reports the runner's per-turn split (call records) and the caller's own measure (its last speech
frame sent -> the agent's first audio frame received), as medians and p90 over all turns.
Writes bench/results/calls_latency-<llm>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.e2e.harness import start_runner  # noqa: E402

AGENT = """\
apiVersion: cb/v1
kind: Agent
metadata: {name: bench}
spec:
  greeting: "Thanks for calling Bright Smile Dental. How can I help?"
  instructions: |
    You are the front desk of Bright Smile Dental. Reply in one short sentence.
  pipeline: {turn: {vad_stop_secs: 0.2}}
  tools: [end_call]
"""
LINES = ["I would like to book a cleaning next week.", "Tuesday morning works for me.",
         "My name is Maria Gomez.", "Do you take new patients?", "What is your address?"]
FIELDS = ("endpointing_ms", "stt_ms", "llm_first_token_ms", "tts_first_audio_ms", "total_ms")


def summary(values: list[float]) -> dict[str, float | int | None]:
    values = sorted(v for v in values if v is not None)
    if not values:
        return {"n": 0, "median": None, "p90": None}
    return {"n": len(values), "median": round(statistics.median(values), 1),
            "p90": round(values[min(len(values) - 1, int(0.9 * len(values)))], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--llm", choices=["local", "scripted"], default="local")
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--lines", type=int, default=4)
    args = parser.parse_args()

    from cb.contracts.voice_webhook_auth import local_token
    from cb.plugins.local.caller import Line, SimulatedCaller
    from cb.runner.calls.records import open_records

    work = Path(tempfile.mkdtemp(prefix="cb-bench-calls-"))
    project = work / "fleet"
    (project / "agents").mkdir(parents=True)
    (project / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: bench\npaths: [agents]\n")
    (project / "agents" / "bench.yaml").write_text(AGENT)
    runner = start_runner(project, work / "state", env={"CB_PROFILE": args.llm})
    turns, heard, calls = [], [], []
    try:
        code, out = runner.apply(project)
        assert code == 0, out
        for i in range(args.calls):
            lines = [Line(LINES[(i + j) % len(LINES)]) for j in range(args.lines)]
            caller = SimulatedCaller(runner.url, local_token(runner.state_dir, create=False), to_number="+10000000000",
                                     lines=lines, agent="bench", turn_timeout_secs=30, hangup_after_secs=2)
            started = time.monotonic()
            result = asyncio.run(caller.run())
            records = open_records(runner.state_dir)
            for _ in range(100):  # the runner finishes the record just after the caller hangs up
                rec = records.get(result.call_id)
                if rec.status not in ("ringing", "in-progress"):
                    break
                time.sleep(0.1)
            turns += rec.turns
            heard += result.response_ms
            calls.append({"call_id": rec.id, "status": rec.status, "end_reason": rec.end_reason,
                          "seconds": round(time.monotonic() - started, 1), "turns": rec.turns,
                          "caller_response_ms": result.response_ms,
                          "transcript": [{"role": h.role, "text": h.text} for h in result.transcript]})
            print(f"call {i + 1}/{args.calls}: {len(rec.turns)} turns, {rec.status} ({rec.end_reason})", flush=True)
    finally:
        runner.stop()
    report = {"llm": args.llm, "turns": len(turns),
              "runner_split_ms": {f: summary([t[f] for t in turns]) for f in FIELDS},
              "caller_heard_ms": summary(heard), "calls": calls}
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"calls_latency-{args.llm}.json").write_text(json.dumps(report, indent=2))
    print(f"\n{args.llm} stack, {len(turns)} turns (ms)      median     p90")
    for name, s in [*report["runner_split_ms"].items(), ("caller heard", report["caller_heard_ms"])]:
        print(f"  {name:<22} {s['median'] if s['median'] is not None else '-':>8} {s['p90'] if s['p90'] is not None else '-':>8}")


if __name__ == "__main__":
    main()
