"""Calls claimed through the shared database: exactly one runner takes a pending call, a runner
ends only what nobody took, and a lapsed runner's unfinished calls are found once.

Each test runs on SQLite (one state.db shared by several processes: ``cb runner --workers``) and
on a real PostgreSQL (``--state-db``), with one connection per runner as in production.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from cb.runner.calls.claims import CallClaims
from cb.runner.calls.records import CallRecord, CallRecords
from cb.state import state_connection
from cb.state.dialect import Postgres

from tests.support.pg import pg_server, pg_url  # noqa: F401  (fixtures)


@pytest.fixture(params=["sqlite", "postgresql"])
def connect(request, tmp_path):
    """A new connection to one database each call: one per simulated runner."""
    if request.param == "sqlite":
        made = []

        def sqlite():
            made.append(state_connection(tmp_path))
            return made[-1]
        yield sqlite
    else:
        url = request.getfixturevalue("pg_url")
        yield lambda: Postgres(url).connect(tmp_path)


def runner(connect, name: str) -> CallClaims:
    conn = connect()
    CallRecords(conn, threading.RLock())  # the cb_calls table the lost-call query joins
    return CallClaims(conn, threading.RLock(), me=f"host/{abs(hash(name)) % 10**6}/{name}")


def admit(claims: CallClaims, call_id: str, sid: str = "CA1", ttl: float = 60) -> None:
    CallRecords(claims._conn, claims._mutex).create(CallRecord(
        id=call_id, agent="agent.a", agent_revision="r", state_serial=1, direction="inbound",
        from_number=None, to_number=None, provider_call_id=sid))
    claims.offer(call_id, sid, {"serial": 1, "to_number": "+1"}, ttl)


def test_exactly_one_of_many_runners_takes_a_pending_call(connect):
    fleet = [runner(connect, f"r{i}") for i in range(6)]
    admit(fleet[0], "call_1")
    with ThreadPoolExecutor(len(fleet)) as pool:
        got = list(pool.map(lambda c: c.claim("call_1", "CA1"), fleet))
    winners = [g for g in got if isinstance(g, dict)]
    assert len(winners) == 1 and winners[0] == {"serial": 1, "to_number": "+1"}
    assert all("already taken" in g for g in got if isinstance(g, str))


def test_a_stream_must_name_the_callsid_that_admitted_the_call(connect):
    a, b = runner(connect, "a"), runner(connect, "b")
    admit(a, "call_1", sid="CA1")
    assert b.claim("call_1", "CA2") == "mismatch"
    assert b.claim("call_nope", "CA1") is None  # never offered (an outbound call its runner keeps)
    assert a.withdraw("call_nope")  # ... is its own runner's to end
    assert isinstance(b.claim("call_1", "CA1"), dict)  # the mismatch did not use it up


def test_an_expired_or_withdrawn_call_cannot_be_taken(connect):
    a, b = runner(connect, "a"), runner(connect, "b")
    admit(a, "call_old", ttl=-1)
    assert b.claim("call_old", "CA1") == "unknown or expired call"
    admit(a, "call_2", sid="CA2")
    assert b.claim("call_2", "CA2") != "mismatch" and not a.withdraw("call_2")  # b's stream took it first
    assert a.taken_elsewhere(["call_2"]) == ["call_2"]  # a frees its place
    admit(a, "call_3", sid="CA3")
    assert a.withdraw("call_3") and b.claim("call_3", "CA3") == "unknown or expired call (already taken by a stream)"


def test_a_lapsed_runners_calls_are_found_and_ended_once(connect):
    a, b, c = runner(connect, "a"), runner(connect, "b"), runner(connect, "c")
    for r in (a, b, c):
        r.beat()
    admit(a, "call_streamed", sid="CA1")
    assert isinstance(b.claim("call_streamed", "CA1"), dict)
    admit(a, "call_done", sid="CA2")
    assert isinstance(b.claim("call_done", "CA2"), dict)
    CallRecords(b._conn, b._mutex).finish("call_done", "completed", "end_call", [])
    assert a.orphans() == [] and c.orphans() == []  # b is alive
    b.beat(now=time.time() - 60)  # b stops beating (killed)
    assert [(o[0], o[2]) for o in a.orphans()] == [("call_streamed", "runner_lost")]  # not the finished one
    assert b.orphans() == []  # a runner never reaps itself
    with ThreadPoolExecutor(2) as pool:
        ended = list(pool.map(lambda r: r.end("call_streamed"), (a, c)))
    assert sorted(ended) == [False, True]
    assert a.orphans() == [] and c.orphans() == []
    assert a.prune(keep_secs=-120) == 1  # call_done: finished; call_streamed is still in progress on its record
    assert isinstance(c.claim("call_done", "CA2"), type(None)) and c.orphans() == []


def test_a_runner_that_stops_cleanly_leaves_the_fleet(connect):
    a = runner(connect, "a")
    a.start()
    a.stop()
    with a._mutex:
        assert a._conn.execute("SELECT COUNT(*) FROM cb_runners WHERE id = ?", (a.me,)).fetchone()[0] == 0
