"""What call outcomes cost: outbox enqueue, webhook delivery throughput, recording per frame.

Run: .venv/bin/python bench/outcomes_bench.py   (bounded: a few seconds; everything on 127.0.0.1)
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cb.contracts.webhook_payload import WebhookPayload  # noqa: E402
from cb.runner.postcall.recording import TwoChannelRecorder  # noqa: E402
from cb.runner.webhooks import Outbox  # noqa: E402
from cb.runner.webhooks.outbox import connect, enqueue  # noqa: E402
from cb.runner.webhooks.worker import Worker  # noqa: E402
from tests.support.receiver import Receiver  # noqa: E402

N = 500


def payload(i: int) -> WebhookPayload:
    return WebhookPayload(call_id=f"call_{i}", agent="agent.front-desk", revision="sha256:abc", status="completed",
                          duration_sec=86, returns={"intent": "booking", "caller_name": "Maria Gomez"})


def bench_enqueue(state: Path) -> None:
    conn = connect(state)
    conn.execute("CREATE TABLE IF NOT EXISTS calls (id TEXT PRIMARY KEY)")
    times = []
    for i in range(N):
        t = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO calls VALUES (?)", (f"call_{i}",))
        enqueue(conn, call_id=f"call_{i}", url="http://127.0.0.1:9/x", payload=payload(i), secret_ref="${env:S}")
        conn.execute("COMMIT")
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    print(f"enqueue in the call record's transaction: median {statistics.median(times):.3f} ms, "
          f"p99 {times[int(len(times) * 0.99)]:.3f} ms ({N} calls, WAL, synchronous=NORMAL)")


def bench_delivery(state: Path) -> None:
    receiver = Receiver(script=[200])
    box = Outbox.open(state)
    for i in range(N):
        box.enqueue(call_id=f"d_{i}", url=receiver.url, payload=payload(i), secret_ref="${env:S}")

    async def go() -> float:
        worker = Worker(state, env={"S": "secret"}, poll_sec=0.01, concurrency=8)
        stop = asyncio.Event()
        t = time.perf_counter()
        task = asyncio.create_task(worker.run(stop))
        while len(receiver.requests) < N and time.perf_counter() - t < 60:
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - t
        stop.set()
        await task
        worker.close()
        return elapsed

    elapsed = asyncio.run(go())
    receiver.stop()
    print(f"signed deliveries to a local receiver: {len(receiver.requests)} in {elapsed:.2f} s "
          f"= {len(receiver.requests) / elapsed:.0f}/s (one worker, 8 concurrent)")


def bench_recording(state: Path) -> None:
    rec = TwoChannelRecorder(state / "bench.wav", 8000)
    frame = b"\x01\x02" * 160
    frames = 50 * 60  # one minute of call
    t = time.perf_counter()
    for i in range(frames):
        rec.caller(frame, at=i * 0.02)
        if i % 2:
            rec.agent(frame, at=i * 0.02)
    rec.close()
    per = (time.perf_counter() - t) / frames * 1e6
    print(f"recording: {per:.1f} us per 20 ms frame pair (8 kHz, both channels, streamed to disk)")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        bench_enqueue(Path(tmp) / "a")
        bench_delivery(Path(tmp) / "b")
        bench_recording(Path(tmp))
