"""One outbox, several runners: each row is leased by exactly one of them at a time.

Runners on one PostgreSQL (``--state-db``) or one SQLite state.db claim from the same table, each
on its own connection; rows go out once per idempotency key however the claims interleave.
"""

from __future__ import annotations

import threading
import time

import pytest

from cb.runner.webhooks.outbox import Outbox, connect
from cb.state.dialect import Postgres, remember

from tests.support.pg import pg_server, pg_url  # noqa: F401  (fixtures)


@pytest.fixture(params=["sqlite", "postgresql"])
def open_outbox(request, tmp_path):
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
        remember(tmp_path, url)  # as open_store does for a runner started with --state-db
        yield lambda: Outbox(connect(tmp_path))
        remember(tmp_path, None)
    else:
        yield lambda: Outbox(connect(tmp_path))


def test_the_state_database_holds_the_outbox(open_outbox, request):
    box = open_outbox()
    expected = "_PgConnection" if "postgresql" in request.node.name else "Connection"
    assert type(box.conn).__name__ == expected


def test_runners_claiming_at_once_never_take_the_same_row(open_outbox):
    first = open_outbox()
    ids = {first.enqueue(call_id=f"call_{i}", url="http://127.0.0.1:9/hook", payload={"n": i}) for i in range(60)}
    boxes = [open_outbox() for _ in range(4)]
    taken: list[tuple[str, str]] = []
    lock = threading.Lock()

    start = threading.Barrier(len(boxes))

    def work(n: int) -> None:
        start.wait()
        while True:
            rows = boxes[n].claim(f"runner-{n}", lease_sec=60, limit=3)
            if not rows:
                return
            with lock:
                taken.extend((row.id, f"runner-{n}") for row in rows)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(len(boxes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    claimed = [row_id for row_id, _ in taken]
    assert sorted(claimed) == sorted(ids)  # every row once, none twice
    assert all(first.get(i).lease_owner is not None for i in ids)


def test_a_lease_that_ran_out_goes_to_another_runner(open_outbox):
    a, b = open_outbox(), open_outbox()
    row_id = a.enqueue(call_id="call_1", url="http://127.0.0.1:9/hook", payload={})
    [row] = a.claim("runner-a", lease_sec=0.2)
    assert b.claim("runner-b", lease_sec=60) == []  # leased: nobody else
    time.sleep(0.3)
    [again] = b.claim("runner-b", lease_sec=60)
    assert (again.id, again.attempts, b.get(row_id).lease_owner) == (row.id, 2, "runner-b")
