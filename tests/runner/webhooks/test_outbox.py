from __future__ import annotations

import random

import pytest

from cb.contracts.webhook_payload import WebhookPayload
from cb.runner.webhooks import Outbox, enqueue
from cb.runner.webhooks.outbox import backoff_delay, connect


def payload(call_id: str = "call_1") -> WebhookPayload:
    return WebhookPayload(call_id=call_id, agent="agent.front-desk", revision="abc", status="completed",
                          duration_sec=86)


def test_enqueue_shares_the_callers_transaction(tmp_path):
    conn = connect(tmp_path)
    conn.execute("CREATE TABLE calls (id TEXT PRIMARY KEY)")
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO calls VALUES ('call_1')")
    enqueue(conn, call_id="call_1", url="http://127.0.0.1:9/x", payload=payload())
    conn.execute("ROLLBACK")
    box = Outbox.open(tmp_path)
    assert box.list() == [], "a rolled-back call record must not leave a webhook behind"
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO calls VALUES ('call_1')")
    row_id = enqueue(conn, call_id="call_1", url="http://127.0.0.1:9/x", payload=payload())
    conn.execute("COMMIT")
    assert [r.id for r in box.list()] == [row_id]


def test_enqueueing_the_same_delivery_twice_owes_it_once(tmp_path):
    box = Outbox.open(tmp_path)
    a = box.enqueue(call_id="call_1", url="http://127.0.0.1:9/x", payload=payload())
    b = box.enqueue(call_id="call_1", url="http://127.0.0.1:9/x", payload=payload())
    c = box.enqueue(call_id="call_1", url="http://127.0.0.1:9/other", payload=payload())
    assert a == b != c
    assert len(box.list()) == 2


def test_the_secret_itself_is_refused_only_its_reference_is_stored(tmp_path):
    box = Outbox.open(tmp_path)
    with pytest.raises(ValueError, match="reference"):
        box.enqueue(call_id="c", url="http://127.0.0.1:9/x", payload=payload(), secret_ref="hunter2")
    box.enqueue(call_id="c", url="http://127.0.0.1:9/x", payload=payload(), secret_ref="${env:HOOK_SECRET}")
    assert b"hunter2" not in (tmp_path / "state.db").read_bytes()


def test_a_leased_row_is_invisible_until_its_lease_ends(tmp_path):
    box = Outbox.open(tmp_path)
    box.enqueue(call_id="c", url="http://127.0.0.1:9/x", payload=payload(), now=100.0)
    [row] = box.claim("w1", lease_sec=10, now=100.0)
    assert row.attempts == 1 and row.status == "delivering"
    assert box.claim("w2", lease_sec=10, now=105.0) == []
    [again] = box.claim("w2", lease_sec=10, now=111.0)
    assert again.id == row.id and again.attempts == 2
    # The first worker lost its lease: its late failure must not reschedule the row.
    box.record_attempt(row, http_status=500, error="HTTP 500", duration_ms=1, ok=False, owner="w1",
                       base_delay=1, max_delay=1, now=112.0)
    assert box.get(row.id).status == "delivering"


def test_a_row_that_keeps_killing_its_worker_goes_dead(tmp_path):
    box = Outbox.open(tmp_path)
    box.enqueue(call_id="c", url="http://127.0.0.1:9/x", payload=payload(), max_attempts=2, now=0.0)
    box.claim("w1", lease_sec=1, now=0.0)
    box.claim("w2", lease_sec=1, now=2.0)
    assert box.claim("w3", lease_sec=1, now=4.0) == []
    [row] = box.list()
    assert row.status == "dead" and "died" in row.last_error


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    rng = random.Random(7)
    delays = [backoff_delay(n, base=1, cap=30, rng=rng) for n in range(1, 8)]
    for n, d in enumerate(delays, start=1):
        full = min(30, 2 ** (n - 1))
        assert full / 2 <= d <= full
    assert len({round(backoff_delay(3, base=1, cap=30, rng=rng), 6) for _ in range(20)}) > 1


def test_a_held_delivery_waits_for_its_body_and_goes_as_is_if_post_call_work_never_ends(tmp_path):
    box = Outbox.open(tmp_path)
    provisional = payload("call_held").model_copy(update={"returns_error": "the runner stopped"})
    row_id = box.enqueue(call_id="call_held", url="http://127.0.0.1:9/x", payload=provisional, hold_sec=60, now=0.0)
    assert box.claim("w", lease_sec=5, now=1.0) == [], "held rows are not sent while post-call work runs"
    final = payload("call_held").model_copy(update={"returns": {"intent": "booking"}})
    assert box.release(row_id, final, now=2.0)
    [row] = box.claim("w", lease_sec=5, now=2.0)
    assert '"intent":"booking"' in row.body
    box.record_attempt(row, http_status=200, error=None, duration_ms=1, ok=True, owner="w",
                       base_delay=1, max_delay=1, now=3.0)
    other = box.enqueue(call_id="call_lost", url="http://127.0.0.1:9/x", payload=provisional, hold_sec=60, now=0.0)
    [row] = box.claim("w", lease_sec=5, now=61.0)
    assert row.id == other and "the runner stopped" in row.body
    assert not box.release(other, final), "too late: the provisional body was already sent"


def test_only_leases_of_dead_processes_on_this_host_are_taken_over(tmp_path):
    import os
    import socket
    import subprocess
    import sys

    from cb.runner.webhooks.worker import Worker

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: its pid is free
    host = socket.gethostname()
    owners = {"dead": f"{host}/{dead.pid}/x", "alive": f"{host}/{os.getpid()}/y",
              "elsewhere": f"other-host/{dead.pid}/z"}
    box = Outbox.open(tmp_path)
    ids = {name: box.enqueue(call_id=name, url="http://127.0.0.1:9/x", payload=payload(name), now=0.0)
           for name in owners}
    assert len(box.claim("w", lease_sec=3600, limit=3)) == 3
    for name, owner in owners.items():
        box.conn.execute("UPDATE cb_webhook_outbox SET lease_owner=? WHERE id=?", (owner, ids[name]))
    worker = Worker(tmp_path)
    assert worker.reclaim_orphans() == [ids["dead"]]
    [row] = box.claim("w2", lease_sec=10, limit=3)
    assert row.id == ids["dead"], "the dead worker's row is taken over now, the others keep their leases"
    worker.close()
