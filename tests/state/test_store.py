"""The state store on a real SQLite file: atomic commits, lineage/serial checks, lock, chain."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from tests.support.pg import pg_server, pg_url  # noqa: F401  (fixtures)

from cb.state import open_store
from cb.state.audit import verify
from cb.state.errors import LockHeld, NotFound, StaleState, StateError
from cb.state.store import Change
from cb.state.types import Cause


def agent(name: str, greeting: str = "hi") -> Change:
    content = {"apiVersion": "cb/v1", "kind": "Agent", "metadata": {"name": name}, "spec": {"greeting": greeting}}
    return Change(f"agent.{name}", "Agent", name, "create", content)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, tmp_path):
    """Where the state lives: open_store arguments. Every store test runs on both dialects."""
    if request.param == "sqlite":
        return (tmp_path, None)
    return (tmp_path, request.getfixturevalue("pg_url"))


@pytest.fixture
def store(backend):
    s = open_store(*backend)
    yield s
    s.close()


def tamper(store, sql):
    """Edit the database behind the store's back, as an attacker with file or SQL access would."""
    if store.dialect.name == "sqlite":
        with sqlite3.connect(store.dir / "state.db") as db:
            db.execute(sql)
    else:
        import psycopg

        with psycopg.connect(store.dialect.url, autocommit=True) as db:
            db.execute(sql)


def test_lineage_is_fixed_at_creation_and_survives_reopen(backend):
    first = open_store(*backend)
    lineage = first.lineage
    first.commit([agent("a")], source="apply")
    first.close()
    again = open_store(*backend)
    assert again.lineage == lineage and again.snapshot().serial == 1
    assert again.snapshot().resources["agent.a"].content["spec"]["greeting"] == "hi"
    again.close()


def test_commit_records_cause_and_content_hash(store):
    cause = Cause(commit="abc123", author="Ann", branch="main", pull_request="7", dirty=False, message="why")
    snap = store.commit([agent("a")], source="apply", cause=cause, applied_by="ci")
    rev = snap.resources["agent.a"]
    assert (rev.serial, rev.source, rev.applied_by, rev.cause) == (1, "apply", "ci", cause)
    assert len(rev.hash) == 64 and rev.applied_at.endswith("Z")


def test_snapshot_is_immutable(store):
    snap = store.commit([agent("a")], source="apply")
    with pytest.raises(TypeError):
        snap.resources["agent.b"] = snap.resources["agent.a"]
    with pytest.raises(TypeError):
        snap.resources["agent.a"].content["spec"]["greeting"] = "changed"
    store.commit([Change("agent.a", "Agent", "a", "update", {"spec": {"greeting": "new"}})], source="apply")
    assert snap.resources["agent.a"].content["spec"]["greeting"] == "hi"  # the old snapshot is untouched


def test_stale_serial_and_lineage_are_refused_and_change_nothing(store):
    store.commit([agent("a")], source="apply", expect_serial=0)
    with pytest.raises(StaleState, match="made against serial 0"):
        store.commit([agent("b")], source="apply", expect_serial=0)  # a plan made against empty state, twice
    with pytest.raises(StaleState, match="lineage"):
        store.commit([agent("b")], source="apply", expect_lineage="another-lineage", expect_serial=1)
    assert list(store.snapshot().resources) == ["agent.a"] and store.snapshot().serial == 1


def test_a_change_set_is_all_or_nothing(store):
    broken = Change("agent.c", "Agent", "c", "update", None)  # an update without content
    with pytest.raises(StateError):
        store.commit([agent("a"), agent("b"), broken], source="apply")
    assert store.snapshot().serial == 0 and not store.snapshot().resources
    assert store.history() == [] and verify(store).ok


def test_lock_names_holder_and_blocks_other_writers(store):
    lock = store.acquire_lock("alice@ci", "apply fleet")
    with pytest.raises(LockHeld) as err:
        store.acquire_lock("bob@laptop", "apply fleet")
    assert "alice@ci" in str(err.value) and "apply fleet" in str(err.value) and lock.id in str(err.value)
    assert f"cb force-unlock {lock.id}" in str(err.value)
    with pytest.raises(LockHeld):
        store.commit([agent("a")], source="watch")  # a writer without the lock
    store.commit([agent("a")], source="apply", lock_id=lock.id)
    assert store.release_lock(lock.id) and not store.release_lock(lock.id)
    assert store.current_lock() is None


def test_only_one_of_many_concurrent_lockers_wins(store):
    results: list[str] = []
    barrier = threading.Barrier(8)

    def take(n: int) -> None:
        barrier.wait()
        try:
            store.acquire_lock(f"p{n}", "apply")
            results.append("won")
        except LockHeld:
            results.append("lost")

    threads = [threading.Thread(target=take, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["lost"] * 7 + ["won"]


def test_subscribers_get_each_new_snapshot_synchronously(store):
    seen = []
    unsubscribe = store.subscribe(lambda snap: seen.append((snap.serial, time.perf_counter())))
    store.commit([agent("a")], source="apply")
    assert seen and seen[0][0] == 1  # already called when commit returns: no polling delay
    store.subscribe(lambda snap: 1 / 0)  # a failing subscriber does not undo the commit
    store.commit([agent("b")], source="watch")
    assert [s for s, _ in seen] == [1, 2] and store.snapshot().serial == 2
    unsubscribe()
    store.commit([agent("c")], source="apply")
    assert [s for s, _ in seen] == [1, 2]


def test_moves_keep_history_and_revision_refs_resolve(store):
    store.commit([agent("reception", "v1")], source="apply")
    moved = Change("agent.front-desk", "Agent", "front-desk", "move",
                   {"apiVersion": "cb/v1", "kind": "Agent", "metadata": {"name": "front-desk"}, "spec": {"greeting": "v1"}},
                   moved_from="agent.reception")
    store.commit([moved], source="apply")
    store.commit([Change("agent.front-desk", "Agent", "front-desk", "update", {"spec": {"greeting": "v3"}})], source="apply")
    snap = store.snapshot()
    assert "agent.reception" not in snap.resources and "agent.front-desk" in snap.resources
    hist = store.history("agent.front-desk")
    assert [(r.address, r.action) for r in hist] == [("agent.reception", "create"), ("agent.front-desk", "move"),
                                                      ("agent.front-desk", "update")]
    assert store.revision("agent.front-desk", "2").action == "move"
    assert store.revision("agent.front-desk", "live").serial == 3
    assert store.revision("agent.front-desk", f"r{hist[0].id}").address == "agent.reception"
    assert store.revision("agent.front-desk", hist[-1].hash[:8]).serial == 3
    with pytest.raises(NotFound):
        store.revision("agent.front-desk", "0")
    with pytest.raises(NotFound):
        store.revision("agent.nobody", "1")


def test_delete_leaves_a_tombstone(store):
    store.commit([agent("a")], source="apply")
    store.commit([Change("agent.a", "Agent", "a", "delete")], source="apply")
    assert "agent.a" not in store.snapshot().resources
    assert [r.action for r in store.history("agent.a")] == ["create", "delete"]
    assert store.history("agent.a")[-1].content is None


@pytest.mark.parametrize("sql, where", [
    ("UPDATE cb_revisions SET applied_by = 'mallory' WHERE id = 2", 2),
    ("UPDATE cb_revisions SET source = 'watch' WHERE id = 1", 1),
    ("DELETE FROM cb_revisions WHERE id = 2", 3),
    ("UPDATE cb_blobs SET content = '{\"forged\":true}' WHERE hash = (SELECT hash FROM cb_revisions WHERE id = 3)", 3),
])
def test_audit_names_the_first_broken_link(store, sql, where):
    for n in "abc":
        store.commit([agent(n)], source="apply")
    assert verify(store).ok and verify(store).checked == 3
    tamper(store, sql)
    result = verify(store)
    assert not result.ok and result.broken_at == where, result


def test_audit_notices_the_newest_revisions_removed(store):
    for n in "ab":
        store.commit([agent(n)], source="apply")
    tamper(store, "DELETE FROM cb_revisions WHERE id = 2")
    result = verify(store)
    assert not result.ok and "chain head" in result.reason


def test_a_second_runner_on_the_same_state_never_builds_on_a_stale_copy(backend):
    one, two = open_store(*backend), open_store(*backend)
    one.commit([agent("a")], source="apply")
    snap = two.commit([agent("b")], source="apply")  # two's in-memory copy had not seen agent.a
    assert snap.serial == 2 and set(snap.resources) == {"agent.a", "agent.b"}
    with pytest.raises(LockHeld):
        one.acquire_lock("x", "apply") and two.acquire_lock("y", "apply")
    seen = []
    one.subscribe(lambda snap: seen.append(snap.serial))
    assert one.snapshot().serial == 1 and one.refresh().serial == 2 and seen == [2]  # picks up two's commit
    assert one.refresh().serial == 2 and seen == [2]  # nothing moved: no notification
    assert verify(one).ok
    one.close()
    two.close()
