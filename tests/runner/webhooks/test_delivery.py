"""The delivery worker against a real local HTTP receiver."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import jsonschema

from cb.contracts.webhook_payload import ToolCallSummary, WebhookPayload
from cb.contracts.webhook_signature import verify_signature
from cb.runner.webhooks import Outbox
from cb.runner.webhooks.worker import Worker

SECRET = "whsec_test_only"
ENV = {"HOOK_SECRET": SECRET}


def payload(call_id: str = "call_1") -> WebhookPayload:
    return WebhookPayload(
        call_id=call_id, agent="agent.front-desk", revision="sha256:abc", status="completed",
        duration_sec=86, returns={"intent": "booking", "appointment_at": "2026-04-29T15:30:00-07:00",
                                  "caller_name": "Maria Gomez"},
        tool_calls=[ToolCallSummary(name="book_appointment", ok=True, status="ok", latency_ms=120)],
        recording_url="file:///state/calls/call_1/recording.wav",
        transcript_url="file:///state/calls/call_1/transcript.json")


def run_worker(worker: Worker, until, timeout: float = 10.0) -> None:
    async def go() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        deadline = time.monotonic() + timeout
        while not until() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        stop.set()
        await task
    asyncio.run(go())
    worker.close()


def test_a_delivery_is_signed_keyed_and_matches_the_published_schema(tmp_path, receiver):
    r = receiver([200])
    box = Outbox.open(tmp_path)
    row_id = box.enqueue(call_id="call_1", url=r.url + "/calls", payload=payload(), secret_ref="${env:HOOK_SECRET}")
    run_worker(Worker(tmp_path, env=ENV), until=lambda: box.get(row_id).status == "delivered")
    [req] = r.wait_for(1)
    assert req.path == "/calls" and req.method == "POST"
    assert verify_signature(SECRET, req.body, req.headers["CB-Signature"]) > 0
    assert req.headers["CB-Idempotency-Key"] == row_id
    assert req.headers["CB-Event"] == "call.completed"
    jsonschema.validate(req.json(), WebhookPayload.model_json_schema())
    assert req.json()["returns"]["caller_name"] == "Maria Gomez"
    assert SECRET.encode() not in (tmp_path / "state.db").read_bytes()


def test_a_500_is_retried_with_backoff_under_the_same_idempotency_key(tmp_path, receiver):
    r = receiver([500, 503, 200])
    box = Outbox.open(tmp_path)
    row_id = box.enqueue(call_id="call_1", url=r.url, payload=payload(), secret_ref="${env:HOOK_SECRET}")
    run_worker(Worker(tmp_path, env=ENV, base_delay=0.1, max_delay=0.2, poll_sec=0.02),
               until=lambda: box.get(row_id).status == "delivered")
    reqs = r.wait_for(3)
    assert len(reqs) == 3
    assert {q.headers["CB-Idempotency-Key"] for q in reqs} == {row_id}
    assert [q.headers["CB-Delivery-Attempt"] for q in reqs] == ["1", "2", "3"]
    gaps = [b.at - a.at for a, b in zip(reqs, reqs[1:])]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1, f"retries must wait (backoff), gaps {gaps}"
    assert [a["http_status"] for a in box.attempts(row_id)] == [500, 503, 200]


def test_a_receiver_that_times_out_is_retried(tmp_path, receiver):
    r = receiver([("sleep", 3, 200), 200])
    box = Outbox.open(tmp_path)
    row_id = box.enqueue(call_id="call_1", url=r.url, payload=payload(), secret_ref="${env:HOOK_SECRET}")
    run_worker(Worker(tmp_path, env=ENV, timeout_sec=0.3, base_delay=0.05, max_delay=0.05, poll_sec=0.02),
               until=lambda: box.get(row_id).status == "delivered")
    assert box.get(row_id).status == "delivered"
    first, second = box.attempts(row_id)
    assert "timed out" in first["error"] and second["http_status"] == 200


def test_after_max_attempts_a_delivery_is_dead_and_replay_sends_it_again(tmp_path, receiver):
    r = receiver([500, 500, 200])
    box = Outbox.open(tmp_path)
    row_id = box.enqueue(call_id="call_1", url=r.url, payload=payload(), secret_ref="${env:HOOK_SECRET}",
                         max_attempts=2)
    run_worker(Worker(tmp_path, env=ENV, base_delay=0.01, max_delay=0.01, poll_sec=0.02),
               until=lambda: box.get(row_id).status == "dead")
    row = box.get(row_id)
    assert row.status == "dead" and row.attempts == 2 and row.last_status == 500
    box.replay(row_id)
    run_worker(Worker(tmp_path, env=ENV, poll_sec=0.02), until=lambda: box.get(row_id).status == "delivered")
    reqs = r.wait_for(3)
    assert box.get(row_id).status == "delivered"
    assert reqs[2].headers["CB-Idempotency-Key"] == row_id


def test_a_missing_secret_fails_the_attempt_with_a_fix_and_sends_nothing(tmp_path, receiver):
    r = receiver([200])
    box = Outbox.open(tmp_path)
    row_id = box.enqueue(call_id="call_1", url=r.url, payload=payload(), secret_ref="${env:HOOK_SECRET}",
                         max_attempts=1)
    run_worker(Worker(tmp_path, env={}, poll_sec=0.02), until=lambda: box.get(row_id).status == "dead")
    assert "HOOK_SECRET" in box.get(row_id).last_error and "replay" in box.get(row_id).last_error
    assert r.requests == []


def test_a_worker_killed_with_sigkill_mid_delivery_delivers_after_restart(tmp_path, receiver):
    r = receiver(["stall", 200])
    box = Outbox.open(tmp_path)
    row_id = box.enqueue(call_id="call_1", url=r.url, payload=payload(), secret_ref="${env:HOOK_SECRET}")
    # Default timeout and lease (10 s, 15 s): the restarted worker must not wait the lease out.
    cmd = [sys.executable, "-m", "cb.runner.webhooks.worker", "--state", str(tmp_path), "--poll", "0.05"]
    env = {**os.environ, "HOOK_SECRET": SECRET}
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        r.wait_for(1, timeout=20)
        assert box.get(row_id).status == "delivering"
        first.send_signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
    second = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while box.get(row_id).status != "delivered" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert box.get(row_id).status == "delivered", "taken over from the dead worker before its lease ended"
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(10)
        except subprocess.TimeoutExpired:
            second.kill()
    reqs = r.wait_for(2)
    assert len(reqs) == 2, "at least once: the killed attempt plus the one after restart"
    assert reqs[0].headers["CB-Idempotency-Key"] == reqs[1].headers["CB-Idempotency-Key"] == row_id
    assert reqs[0].body == reqs[1].body
    for q in reqs:
        verify_signature(SECRET, q.body, q.headers["CB-Signature"])
    assert second.returncode == 0, "SIGTERM stops the worker cleanly"

