"""The one benchmark command: where cb stands, as a table on stdout and JSON under bench/results/.

    .venv/bin/python bench/run.py                 # everything (about 15 minutes on 2 cores)
    .venv/bin/python bench/run.py --quick         # a smoke run of every section (a few minutes)
    .venv/bin/python bench/run.py --sections turns,bargein --profiles ab
    .venv/bin/python bench/run.py --sections concurrency --steps 1,10,25,50 --runner-env CB_LOOP=asyncio

Sections: ``turns`` (turn latency a/b/c), ``bargein``, ``cutoff`` (mid-turn pauses), ``concurrency``, ``control`` (runs
bench/validate_bench.py and bench/control_bench.py and reads their JSON), ``booking`` (the booking scenario's pass
rate on the bundled LLM, bench/booking_pass_rate.py), ``multi`` (two runners on
PostgreSQL behind HAProxy: calls held, apply to live on both; bench/multi_runner.py). Every call goes through a
real `cb runner` over the real Media Streams WebSocket (bench/caller.py); see bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench import table  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SECTIONS = ("turns", "bargein", "concurrency", "control", "multi", "cutoff", "quality", "booking")


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


def quiet_pipecat() -> None:
    """pipecat logs every frame decision at DEBUG to stderr; the bench's own process needs none of it."""
    try:
        from loguru import logger

        logger.remove()
        logger.add(sys.stderr, level="WARNING")
    except ImportError:
        pass


def control(quick: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    runs = "3" if quick else "5"
    for name, script in (("validate", "validate_bench.py"), ("control", "control_bench.py")):
        proc = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--runs", runs], cwd=ROOT,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            out[name] = {"error": (proc.stdout + proc.stderr)[-1500:]}
            continue
        log(proc.stdout.strip())
        out[name] = json.loads((RESULTS / f"{name}.json").read_text())
    return out


def machine() -> dict[str, Any]:
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    try:
        from importlib.metadata import version

        pipecat = version("pipecat-ai")
    except Exception:  # noqa: BLE001
        pipecat = None
    return {"cpus": os.cpu_count(), "loadavg": [round(x, 2) for x in os.getloadavg()], "git": sha,
            "pipecat": pipecat, "python": sys.version.split()[0]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer calls and turns: a smoke run of every section")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, of {', '.join(SECTIONS)}")
    parser.add_argument("--profiles", default="abcd", help="turn-latency stacks to run (a, b, c, d)")
    parser.add_argument("--barge-settings", default="200,120", help="interruptions.min_speech_ms values to measure")
    parser.add_argument("--steps", help="concurrency steps, e.g. 1,10,25,50,75,100 (the first is the baseline)")
    parser.add_argument("--budget", type=float, help="concurrency time budget in seconds")
    parser.add_argument("--runner-env", action="append", default=[], metavar="KEY=VALUE",
                        help="environment for every runner the benchmark starts (before/after experiments: "
                             "CB_DUCK=0, CB_VAD_THREAD=1, CB_LOOP=asyncio)")
    parser.add_argument("--keep-going", action="store_true", help="concurrency: run every step even after one fails")
    parser.add_argument("--targets", default="cb,stock",
                        help="concurrency: what to load, in one run: cb (the runner), cb-before (its call path's "
                             "cuts undone) and stock (stock pipecat, bench/stock_pipecat.py)")
    parser.add_argument("--workers", default="1,2", help="concurrency: cb runner --workers values (default 1,2: one process and both cores)")
    parser.add_argument("--out", help="JSON file to write (default bench/results/bench-<time>.json)")
    args = parser.parse_args(argv)
    quiet_pipecat()
    runner_env = dict(kv.split("=", 1) for kv in args.runner_env)
    os.environ.update(runner_env)  # every runner inherits the benchmark's environment
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")

    report: dict[str, Any] = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                              "quick": args.quick, "runner_env": runner_env, "machine_before": machine()}
    t0 = time.monotonic()
    if "turns" in sections:
        from bench import turns

        log("turns: " + ", ".join(turns.PROFILES[p]["title"] for p in args.profiles))
        report["turns"] = turns.main(args.quick, args.profiles)
    if "bargein" in sections:
        from bench import bargein

        log("barge-in")
        report["bargein"] = bargein.main(args.quick, tuple(int(x) for x in args.barge_settings.split(",")))
    if "concurrency" in sections:
        from bench import concurrency

        log("concurrency")
        env = runner_env
        steps = tuple(int(x) for x in args.steps.split(",")) if args.steps else None
        report["concurrency"] = concurrency.main(args.quick, steps, args.budget, env=env, log=log,
                                                 keep_going=args.keep_going,
                                                 targets=tuple(t.strip() for t in args.targets.split(",") if t.strip()),
                                                 workers=tuple(int(w) for w in args.workers.split(",")))
    if "control" in sections:
        log("control plane")
        report["control"] = control(args.quick)
    if "booking" in sections:
        from bench import booking_pass_rate

        log("booking scenario on the bundled LLM")
        report["booking"] = booking_pass_rate.section(args.quick)
    if "multi" in sections:
        from bench import multi_runner

        log("two runners on PostgreSQL behind HAProxy")
        report["multi"] = multi_runner.main(args.quick, log=log)
    if "cutoff" in sections:
        from bench import cutoff

        log("mid-turn pauses: VAD alone, smart-turn, words")
        report["cutoff"] = cutoff.main(args.quick)
    if "quality" in sections:
        from bench import quality

        log("what the caller hears: PESQ, dropped and doubled frames (Piper)")
        report["quality"] = quality.main(args.quick)
    report["wall_s"] = round(time.monotonic() - t0, 1)
    report["machine_after"] = machine()

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else RESULTS / f"bench-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    print(table.render(report))
    print(f"\nJSON: {out}")
    return report


if __name__ == "__main__":
    main()
