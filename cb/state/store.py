"""The state store: one SQLite file, append-only revisions, a hash chain, a lineage and a serial.

Why this shape:
- Revisions are never updated or deleted; ``cb_live`` only points at the current one per address,
  so "what was live at serial N" is always answerable.
- Content is stored once per sha256 (``cb_blobs``) and revisions point at it by hash.
- Each revision's ``chain`` is HMAC-SHA256(audit key, previous chain + the revision's canonical
  record), starting from sha256(lineage): editing, inserting or deleting any row breaks the chain
  from there on, and without the key (a file outside the database, ``cb.state.auditkey``) nobody
  can recompute it. A store opened without a key (a test, an old state) keeps a plain sha256 chain;
  opening such a state with a key first verifies it and then re-chains it under the key.
- ``cb_live`` is a cache of the chain: replaying the revisions (create/update/move point the address
  at the revision, delete and move remove one) gives what is live, and ``cb audit verify`` compares.
- ``commit`` is one transaction that first checks the caller's lineage, serial and lock: a change
  set is applied entirely or not at all, and never on top of state the caller did not see.
- One change set moves the serial by one. The apply engine records a change set in steps (the
  runner-held resources at once, then each external number as its provider succeeds, so state
  equals reality when a provider fails half-way); ``commit(..., continues=snapshot)`` records a
  step under the serial its first step took, and only if nothing else was committed in between
  (same lineage, serial and head).
- Subscribers are called synchronously after each commit with the new immutable snapshot, so the
  call path can swap agent specs in-process without polling.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from .canonical import canonical_json, content_hash
from .auditkey import SCHEME, key_id
from .dialect import SCHEMA, SQLite, dialect_for, remember
from .errors import LockHeld, NotFound, StaleState, StateError
from .types import Cause, Lock, Revision, Snapshot, SOURCES, freeze

log = logging.getLogger("cb.state")

STATE_LOCK = "state"
REV_COLUMNS = ("id, serial, address, kind, name, action, hash, applied_at, source, cause, applied_by, "
               "moved_from, prev_chain, chain")


@dataclass(frozen=True)
class Change:
    """One entry of a change set. ``content`` is the full canonical document (None to delete)."""

    address: str
    kind: str
    name: str
    action: str  # create | update | delete | move
    content: dict[str, Any] | None = None
    moved_from: str | None = None


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def chain_link(prev: str, record: dict[str, Any], key: bytes | None = None) -> str:
    """The next link: HMAC-SHA256 under the audit key, or plain sha256 for an unkeyed state."""
    data = (prev + "\n" + canonical_json(record)).encode("utf-8")
    if key is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def chain_record(row: dict[str, Any]) -> dict[str, Any]:
    """The fields a chain link covers: everything about a revision except the links themselves."""
    return {k: row[k] for k in ("id", "serial", "address", "kind", "name", "action", "hash", "applied_at",
                                "source", "cause", "applied_by", "moved_from")}


class StateStore:
    def __init__(self, state_dir: Path, dialect: Any = None, key: bytes | None = None):
        self.dir = Path(state_dir)
        self.dialect = dialect or SQLite()
        self.key = key
        self._conn = self.dialect.connect(self.dir)
        self._mutex = threading.RLock()
        self._subscribers: list[Callable[[Snapshot], None]] = []
        self._at: dict[int, Snapshot] = {}  # snapshot_at's last few past serials
        with self._mutex:
            for statement in SCHEMA:
                self._conn.execute(statement)
            self._init_meta()
            self._snapshot = self._load_snapshot()

    # ------------------------------------------------------------------ setup
    def _init_meta(self) -> None:
        self.dialect.begin_write(self._conn)
        try:
            if self._meta("lineage") is None:
                lineage = str(uuid.uuid4())
                for key, value in (("lineage", lineage), ("serial", "0"), ("created_at", now()),
                                   ("head", hashlib.sha256(lineage.encode()).hexdigest())):
                    self._conn.execute("INSERT INTO cb_meta (key, value) VALUES (?, ?)", (key, value))
                if self.key is not None:
                    self._put_meta("chain", SCHEME)
                    self._put_meta("key_id", key_id(self.key))
            elif self.key is not None and self._meta("chain") is None:
                self._key_existing_chain()
            elif self.key is not None and self._meta("key_id") != key_id(self.key):
                raise StateError(f"this state's history is keyed with audit key {self._meta('key_id')}, but this "
                                 f"runner was given key {key_id(self.key)}: start it with the same key file "
                                 "(--audit-key FILE or CB_AUDIT_KEY_FILE) as the runner that created the state")
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def _put_meta(self, key: str, value: str) -> None:
        self._conn.execute("INSERT INTO cb_meta (key, value) VALUES (?, ?) "
                           "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    def _key_existing_chain(self) -> None:
        """Migrate a state written before the chain was keyed: verify its plain chain, then re-link
        every revision under the key. A broken plain chain is refused, never laundered."""
        from .audit import read_tables, walk

        tables = read_tables(self._conn)
        result = walk(tables, key=None)
        if not result.ok:
            where = f"revision r{result.broken_at} ({result.address})" if result.broken_at else "the chain head"
            raise StateError(f"this state's history fails its audit at {where}: {result.reason}. It cannot be keyed "
                             "with the audit key; inspect it with `cb audit verify --state DIR` and restore a backup")
        head = hashlib.sha256(tables.meta.get("lineage", "").encode()).hexdigest()
        for row in tables.rows:
            link = chain_link(head, chain_record(row), self.key)
            self._conn.execute("UPDATE cb_revisions SET prev_chain = ?, chain = ? WHERE id = ?", (head, link, row["id"]))
            head = link
        self._put_meta("head", head)
        self._put_meta("chain", SCHEME)
        self._put_meta("key_id", key_id(self.key))
        self._put_meta("keyed_at", now())
        self._put_meta("keyed_revisions", str(len(tables.rows)))
        log.warning("state %s had a plain sha256 history chain: its %d revisions were verified intact and "
                    "re-chained under audit key %s", self.dir, len(tables.rows), key_id(self.key))

    @property
    def keyed(self) -> bool:
        return self._meta_cached("chain") == SCHEME

    def _meta_cached(self, key: str) -> str | None:
        with self._mutex:
            return self._meta(key)

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM cb_meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self._conn.execute("UPDATE cb_meta SET value = ? WHERE key = ?", (value, key))

    def _load_snapshot(self) -> Snapshot:
        rows = self._conn.execute(
            f"SELECT {', '.join('r.' + c.strip() for c in REV_COLUMNS.split(','))}, b.content FROM cb_live l "
            "JOIN cb_revisions r ON r.id = l.revision_id LEFT JOIN cb_blobs b ON b.hash = r.hash").fetchall()
        resources = {}
        for row in rows:
            rev = self._revision(row[:-1], row[-1])
            resources[rev.address] = rev
        return Snapshot(self._meta("lineage") or "", int(self._meta("serial") or 0), resources, self._meta("head") or "")

    @staticmethod
    def _revision(row: tuple, content: str | None) -> Revision:
        (rid, serial, address, kind, name, action, hash_, applied_at, source, cause, applied_by,
         moved_from, _prev, chain) = row
        return Revision(rid, serial, address, kind, name, action, hash_,
                        freeze(json.loads(content)) if content is not None else None, applied_at, source,
                        Cause.from_dict(json.loads(cause)), applied_by, moved_from, chain)

    # ------------------------------------------------------------------ reading
    @property
    def lineage(self) -> str:
        return self._snapshot.lineage

    def snapshot(self) -> Snapshot:
        """The current immutable snapshot: ``.serial`` and ``.resources`` (address -> Revision)."""
        return self._snapshot

    def refresh(self) -> Snapshot:
        """Pick up commits made by another process sharing the database (another runner), and tell
        subscribers. Cheap when nothing moved: one indexed read."""
        with self._mutex:
            serial, head = int(self._meta("serial") or 0), self._meta("head") or ""
            if (serial, head) == (self._snapshot.serial, self._snapshot.head):
                return self._snapshot
            self._snapshot = snapshot = self._load_snapshot()
        self._notify(snapshot)
        return snapshot

    def snapshot_at(self, serial: int) -> Snapshot:
        """What was live at ``serial``: each address's last revision at or before it, unless that was
        a delete or a move away. A call admitted on one runner and streamed on another is planned
        again here against the serial it pinned, so it keeps the revision it started with."""
        current = self._snapshot
        if serial == current.serial:
            return current
        if serial in self._at:  # a serial's content never changes once a later one exists
            return self._at[serial]
        live: dict[str, Revision] = {}
        for rev in self.history():
            if rev.serial > serial:
                break
            if rev.moved_from:
                live.pop(rev.moved_from, None)
            if rev.action == "delete":
                live.pop(rev.address, None)
            else:
                live[rev.address] = rev
        snapshot = Snapshot(self.lineage, serial, live)
        if serial < current.serial:
            self._at = {**dict(list(self._at.items())[-7:]), serial: snapshot}
        return snapshot

    def _notify(self, snapshot: Snapshot) -> None:
        for callback in list(self._subscribers):
            try:
                callback(snapshot)
            except Exception:  # a subscriber's bug must not undo a committed change
                log.exception("state subscriber %r failed", callback)

    def subscribe(self, callback: Callable[[Snapshot], None]) -> Callable[[], None]:
        """Call ``callback(snapshot)`` synchronously after every committed change; returns an unsubscribe."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def history(self, address: str | None = None, limit: int | None = None) -> list[Revision]:
        """Revisions, oldest first, of one address (following ``moved`` renames back) or of all."""
        sql = (f"SELECT {', '.join('r.' + c.strip() for c in REV_COLUMNS.split(','))}, b.content "
               "FROM cb_revisions r LEFT JOIN cb_blobs b ON b.hash = r.hash")
        with self._mutex:
            if address is None:
                rows = self._conn.execute(sql + " ORDER BY r.id").fetchall()
            else:
                names, rows = {address}, []
                frontier = [address]
                while frontier:  # follow renames back to where the resource came from
                    current = frontier.pop()
                    found = self._conn.execute(
                        "SELECT moved_from FROM cb_revisions WHERE address = ? AND moved_from IS NOT NULL",
                        (current,)).fetchall()
                    for (old,) in found:
                        if old not in names:
                            names.add(old)
                            frontier.append(old)
                marks = ", ".join("?" for _ in names)
                rows = self._conn.execute(sql + f" WHERE r.address IN ({marks}) ORDER BY r.id",
                                          tuple(sorted(names))).fetchall()
        revs = [self._revision(row[:-1], row[-1]) for row in rows]
        return revs[-limit:] if limit else revs

    def revision(self, address: str, ref: str) -> Revision:
        """The revision of ``address`` named by ``ref``: a serial number (what was live at that serial),
        ``r<id>`` (a revision id), a content-hash prefix, or ``live``."""
        revs = self.history(address)
        if not revs:
            raise NotFound(f"{address} has no history; `cb history` lists the addresses that do")
        ref = ref.strip()
        if ref in ("live", "latest", "current"):
            chosen = revs[-1]
        elif ref.isdigit():
            current = int(self._meta_cached("serial") or 0)
            if int(ref) > current:
                raise NotFound(f"serial {ref} does not exist: the state is at serial {current}; "
                               f"see `cb history {address}`")
            at = [r for r in revs if r.serial <= int(ref)]
            if not at:
                raise NotFound(f"{address} did not exist at serial {ref}; its first serial is {revs[0].serial}")
            chosen = at[-1]
        elif ref.startswith("r") and ref[1:].isdigit():
            matches = [r for r in revs if r.id == int(ref[1:])]
            if not matches:
                raise NotFound(f"{address} has no revision {ref}; see `cb history {address}`")
            chosen = matches[0]
        else:
            matches = [r for r in revs if r.hash and r.hash.startswith(ref.lower())]
            if not matches:
                raise NotFound(f"no revision of {address} has a hash starting {ref!r}; see `cb history {address}`")
            chosen = matches[-1]
        return chosen

    # ------------------------------------------------------------------ locking
    def current_lock(self) -> Lock | None:
        with self._mutex:
            row = self._conn.execute("SELECT id, holder, operation, created_at FROM cb_locks WHERE name = ?",
                                     (STATE_LOCK,)).fetchone()
        return Lock(*row) if row else None

    def acquire_lock(self, holder: str, operation: str) -> Lock:
        """Take the state lock at once or raise LockHeld naming who holds it; never waits."""
        lock = Lock(str(uuid.uuid4()), holder, operation, now())
        with self._mutex:
            try:
                self._conn.execute("INSERT INTO cb_locks (name, id, holder, operation, created_at) VALUES (?, ?, ?, ?, ?)",
                                   (STATE_LOCK, lock.id, lock.holder, lock.operation, lock.created_at))
            except Exception as exc:
                if self.dialect.is_unique_violation(exc):
                    held = self.current_lock()
                    if held is not None:
                        raise LockHeld(held) from None
                raise
        return lock

    def release_lock(self, lock_id: str) -> bool:
        """Release the lock with this ID (force-unlock uses the same call). False if it was not held."""
        with self._mutex:
            cur = self._conn.execute("DELETE FROM cb_locks WHERE name = ? AND id = ?", (STATE_LOCK, lock_id))
        return cur.rowcount > 0

    # ------------------------------------------------------------------ writing
    def commit(self, changes: Iterable[Change], *, source: str, cause: Cause | None = None,
               applied_by: str = "unknown", expect_lineage: str | None = None,
               expect_serial: int | None = None, lock_id: str | None = None,
               continues: Snapshot | None = None) -> Snapshot:
        """Apply a change set in one transaction and return the new snapshot.

        Refuses (StaleState) when ``expect_lineage``/``expect_serial`` no longer match, and
        (LockHeld) when someone else holds the lock. An empty change set changes nothing.
        ``continues``: these changes are a further step of the change set whose previous step
        produced that snapshot; they take its serial (no new one), and are refused (StaleState)
        if anything else was committed since.
        """
        if source not in SOURCES:
            raise StateError(f"unknown source {source!r}; one of {', '.join(SOURCES)}")
        changes = list(changes)
        cause = cause or Cause()
        cause_json = canonical_json(cause.to_dict())
        with self._mutex:
            self.dialect.begin_write(self._conn)
            try:
                lineage, serial = self._meta("lineage"), int(self._meta("serial") or 0)
                if expect_lineage is not None and expect_lineage != lineage:
                    raise StaleState(f"saved plan is stale: it was made for state lineage {expect_lineage}, "
                                     f"but the runner's state has lineage {lineage}; run `cb plan` again")
                if expect_serial is not None and expect_serial != serial:
                    raise StaleState(f"saved plan is stale: it was made against serial {expect_serial}, "
                                     f"but the state is now at serial {serial} (someone applied since); "
                                     "run `cb plan` again")
                if continues is not None and (continues.lineage, continues.serial, continues.head) != (
                        lineage, serial, self._meta("head") or ""):
                    raise StaleState(f"the state moved while this change set was being applied (serial "
                                     f"{continues.serial} -> {serial}); run `cb plan` again")
                row = self._conn.execute("SELECT id, holder, operation, created_at FROM cb_locks WHERE name = ?",
                                         (STATE_LOCK,)).fetchone()
                if row is not None and row[0] != lock_id:
                    raise LockHeld(Lock(*row))
                if not changes:
                    self._conn.execute("COMMIT")
                    return self._snapshot
                # Another process wrote this file since we last looked (two runners on one state):
                # build on what is really live, never on our stale copy.
                head = self._meta("head") or ""
                fresh = (serial, head) == (self._snapshot.serial, self._snapshot.head)
                base = self._snapshot if fresh else self._load_snapshot()
                serial = serial if continues is not None else serial + 1
                revs = self._write(changes, serial, source, cause_json, applied_by)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            resources = dict(base.resources)
            for rev in revs:
                if rev.moved_from:
                    resources.pop(rev.moved_from, None)
                if rev.action == "delete":
                    resources.pop(rev.address, None)
                else:
                    resources[rev.address] = rev
            self._snapshot = Snapshot(lineage, serial, resources, revs[-1].chain)
            snapshot = self._snapshot
        self._notify(snapshot)
        return snapshot

    def _write(self, changes: list[Change], serial: int, source: str, cause_json: str, applied_by: str) -> list[Revision]:
        head = self._meta("head") or ""
        if self._meta("chain") == SCHEME and self.key is None:
            raise StateError("this state's history is keyed: open it with its audit key to write to it")
        next_id = (self._conn.execute("SELECT MAX(id) FROM cb_revisions").fetchone()[0] or 0) + 1
        at = now()
        out = []
        for change in changes:
            hash_ = None
            body = None
            if change.action != "delete":
                if change.content is None:
                    raise StateError(f"{change.address}: {change.action} needs the resource's content")
                body = canonical_json(change.content)
                hash_ = content_hash(change.content)
                self._conn.execute("INSERT INTO cb_blobs (hash, content) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING",
                                   (hash_, body))
            row = {"id": next_id, "serial": serial, "address": change.address, "kind": change.kind,
                   "name": change.name, "action": change.action, "hash": hash_, "applied_at": at,
                   "source": source, "cause": cause_json, "applied_by": applied_by,
                   "moved_from": change.moved_from}
            chain = chain_link(head, chain_record(row), self.key)
            self._conn.execute(f"INSERT INTO cb_revisions ({REV_COLUMNS}) VALUES ({', '.join('?' * 14)})",
                               (*row.values(), head, chain))
            if change.moved_from:
                self._conn.execute("DELETE FROM cb_live WHERE address = ?", (change.moved_from,))
            if change.action == "delete":
                self._conn.execute("DELETE FROM cb_live WHERE address = ?", (change.address,))
            else:
                self._conn.execute("INSERT INTO cb_live (address, revision_id) VALUES (?, ?) "
                                   "ON CONFLICT (address) DO UPDATE SET revision_id = excluded.revision_id",
                                   (change.address, next_id))
            out.append(Revision(next_id, serial, change.address, change.kind, change.name, change.action, hash_,
                                freeze(json.loads(body)) if body is not None else None, at, source,
                                Cause.from_dict(json.loads(cause_json)), applied_by, change.moved_from, chain))
            head = chain
            next_id += 1
        self._set_meta("serial", str(serial))
        self._set_meta("head", head)
        return out

    def close(self) -> None:
        with self._mutex:
            self._conn.close()

    @property
    def connection(self):
        """The store's connection, for modules that keep their own tables in the same file (under ``mutex``)."""
        return self._conn

    @property
    def mutex(self) -> threading.RLock:
        return self._mutex


def open_store(state_dir: str | Path, url: str | None = None, key: bytes | None = None) -> StateStore:
    """Open (creating if needed, with a fresh lineage) the state in ``state_dir``/state.db, or in the
    PostgreSQL database ``url`` (postgresql://...) that several runners may share. ``key`` (the
    audit key, ``cb.state.auditkey``) keys the history's chain; the runner always passes one."""
    store = StateStore(Path(state_dir), dialect_for(url), key)
    remember(state_dir, url)
    return store
