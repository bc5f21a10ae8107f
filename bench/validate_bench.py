"""Benchmark: `cb validate` on a generated fleet of 1,000 agents, 1,000 tools and 500 numbers.

    python bench/validate_bench.py [--runs 5]

Measures the whole command as a user runs it (a fresh process: interpreter start, imports,
reading, validation, rendering) and reports the median and spread. Target: median under 2 s.
Writes bench/results/validate.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from generate import generate  # noqa: E402

TARGET_S = 2.0


def measure(project: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "cb", "validate"], cwd=project, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if proc.returncode != 0:
            raise SystemExit(f"validate failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return times


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        generate(project, 1000, 1000, 500)
        times = measure(project, args.runs)
    result = {
        "benchmark": "validate 1000 agents + 1000 tools + 500 numbers (fresh process)",
        "runs": args.runs,
        "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "max_s": round(max(times), 3),
        "target_s": TARGET_S,
        "met": statistics.median(times) < TARGET_S,
        "cpus": os.cpu_count(),
    }
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "validate.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"validate  1000 agents/1000 tools/500 numbers  median {result['median_s']:.3f} s  "
          f"(min {result['min_s']:.3f}, max {result['max_s']:.3f}, {args.runs} runs)  target < {TARGET_S} s  "
          f"{'met' if result['met'] else 'MISSED'}")
    return result


if __name__ == "__main__":
    main()
