"""SIP concurrency: how many simultaneous sipp calls one runner holds with its RTP still paced.

Each step starts a fresh runner (bench.turns profile ``b``: scripted STT, LLM and TTS at published
latencies, the local Silero VAD) with a ``provider: sip`` Number on a loopback trunk, and has sipp
place N calls at once (``sip/bench.xml``: G.711 A-law speech from sipp's own pcap, twice, then BYE).
Each call's SDP names one UDP socket of ours, so every RTP packet the runner sends lands here and is
timestamped on arrival: a call's jitter is |inter-arrival - 20 ms| between consecutive packets of its
SSRC (the first second skipped, as bench.analyse skips the pre-roll). Turn latency is the runner's
own per-turn figure (caller's last speech -> agent's first audio, ``cb_call_turns.total_ms``).

A step passes when every call was answered and completed, jitter p99 < 20 ms and turn p95 <= 1.5x
the one-call step of the same run. The answer is the largest N that passed. ``--twilio`` runs
bench.concurrency's Media Streams step at the same N beside it. Loopback only; each step <= 60 s.

    python -m bench.sip_concurrency [--steps 1,5,10,20] [--twilio]
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from . import analyse
from .turns import stack_for

P95_RATIO, JITTER_P99_MS = 1.5, 20.0
NUMBER = "+14155550188"
SCENARIO = Path(__file__).parent / "sip" / "bench.xml"


class RtpSink:
    """One UDP socket all calls' RTP is sent to: arrival times per SSRC."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.arrivals: dict[int, list[float]] = {}
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.is_set():
            try:
                data = self.sock.recv(2048)
            except socket.timeout:
                continue
            if len(data) >= 12:
                self.arrivals.setdefault(int.from_bytes(data[8:12], "big"), []).append(time.monotonic())

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(1)
        self.sock.close()

    def jitter_ms(self, skip_s: float = 1.0) -> list[float]:
        out = []
        for times in self.arrivals.values():
            start = times[0] + skip_s
            out += [abs((b - a) * 1000 - 20) for a, b in zip(times, times[1:]) if a >= start]
        return out


def udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pcap_folder() -> Path:
    found = sorted(Path("/usr/share/sip-tester").glob("**/g711a.pcap"))
    folder = Path(tempfile.gettempdir()) / "cb-sipp"
    folder.mkdir(exist_ok=True)
    if found and not (folder / "pcap").exists():
        (folder / "pcap").symlink_to(found[0].parent)
    return folder


def step(n: int) -> dict[str, Any]:
    port = udp_port()
    with stack_for("b", env={"CB_MAX_CALLS": str(n + 10)}) as stack:
        project = stack.tmp / "project"
        (project / "agents" / "sip.yaml").write_text(
            "apiVersion: cb/v1\nkind: Number\nmetadata: {name: bench-sip}\nspec:\n"
            f'  number: "{NUMBER}"\n  provider: sip\n  agent: bench\n  options: {{listen: "127.0.0.1:{port}"}}\n')
        out = subprocess.run([sys.executable, "-m", "cb", "apply", "--auto-approve", "--runner", stack.url],
                             cwd=project, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"cb apply failed:\n{out.stdout}\n{out.stderr}")
        sink = RtpSink()
        t0 = time.monotonic()
        try:
            done = subprocess.run(["sipp", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", "0", "-s", NUMBER,
                                   f"127.0.0.1:{port}", "-sf", str(SCENARIO), "-key", "rtp_port", str(sink.port),
                                   "-m", str(n), "-l", str(n), "-r", str(n), "-rp", "1000", "-nostdin",
                                   "-timeout", "55s", "-timeout_error"],
                                  capture_output=True, text=True, timeout=60, cwd=pcap_folder())
        finally:
            wall = time.monotonic() - t0
            time.sleep(1)
            sink.close()
        from cb.runner.calls.records import open_records

        records = open_records(stack.tmp / "state")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            calls = records.list(n + 10, None)
            if len(calls) >= n and all(c.status == "completed" for c in calls):
                break
            time.sleep(0.2)
        totals = [row[0] for row in records._conn.execute(
            "SELECT total_ms FROM cb_call_turns WHERE total_ms IS NOT NULL").fetchall()]
    jitter = sink.jitter_ms()
    return {"calls": n, "sipp_rc": done.returncode, "answered": len(calls),
            "completed": sum(c.status == "completed" for c in calls), "rtp_streams": len(sink.arrivals),
            "turns": len(totals), "total_ms": analyse.summary(totals), "jitter_ms": analyse.summary(jitter),
            "wall_s": round(wall, 1)}


def judge(row: dict[str, Any], base_p95: float | None) -> dict[str, Any]:
    p95, jit, why = row["total_ms"].get("p95"), row["jitter_ms"].get("p99"), []
    if row["sipp_rc"] != 0 or row["completed"] < row["calls"]:
        why.append(f"{row['calls'] - row['completed']} call(s) not completed (sipp exit {row['sipp_rc']})")
    if p95 is None or base_p95 is None or p95 > P95_RATIO * base_p95:
        why.append(f"turn p95 {p95} ms > {P95_RATIO}x {base_p95} ms")
    if jit is None or jit >= JITTER_P99_MS:
        why.append(f"jitter p99 {jit} ms >= {JITTER_P99_MS} ms")
    return {"passed": not why, "why": why}


def main(steps: tuple[int, ...] = (1, 5, 10, 20), twilio: bool = False, log=print) -> dict[str, Any]:
    if shutil.which("sipp") is None:
        raise SystemExit("sipp missing: apt-get install sip-tester")
    rows, base, tw_base = [], None, None
    for n in steps:
        row = step(n)
        base = base if base is not None else row["total_ms"].get("p95")
        row["judged"] = judge(row, base)
        if twilio:
            from . import concurrency

            tw = concurrency.step(n, 2, "b", {})
            tw_base = tw_base if tw_base is not None else tw["total_ms"].get("p95")
            row["twilio"] = {"total_ms": tw["total_ms"], "jitter_ms": tw["jitter_ms"], "failed_calls": tw["failed_calls"],
                             "judged": concurrency.judge(tw, tw_base)}
        rows.append(row)
        log(f"  SIP N={n:<3} turn p95 {row['total_ms'].get('p95')} ms ({row['turns']} turns), jitter p99 "
            f"{row['jitter_ms'].get('p99')} ms, {row['completed']}/{n} completed: "
            + ("ok" if row["judged"]["passed"] else "FAIL: " + "; ".join(row["judged"]["why"]))
            + (f" | Twilio turn p95 {row['twilio']['total_ms'].get('p95')} ms, jitter p99 "
               f"{row['twilio']['jitter_ms'].get('p99')} ms: {'ok' if row['twilio']['judged']['passed'] else 'FAIL'}"
               if twilio else ""))
    held = 0
    for row in rows:
        if not row["judged"]["passed"]:
            break
        held = row["calls"]
    return {"single_call_p95_ms": base, "max_sip_calls_held": held, "steps": rows}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", default="1,5,10,20")
    parser.add_argument("--twilio", action="store_true")
    parser.add_argument("--out")
    args = parser.parse_args()
    result = main(tuple(int(s) for s in args.steps.split(",")), args.twilio)
    print(json.dumps({k: v for k, v in result.items() if k != "steps"}))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
