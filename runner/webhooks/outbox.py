"""The durable outbox: one row per delivery owed, in the runner's own state database.

Why a table and not a queue in memory: a runner killed at any moment must still deliver every
webhook it owes (at least once). A row is written when the call record is (``enqueue`` takes the
caller's connection, so both can share one transaction) and only leaves ``pending`` when a
receiver answered 2xx or the attempts ran out (``dead``). A worker *leases* a row while it
delivers; a worker that dies mid-delivery leaves the lease to expire and the next worker takes the
row again. The id doubles as the idempotency key the receiver sees, stable across retries,
restarts and replays, so receivers can drop duplicates.

Only the secret's *reference* (``${env:NAME}``) is stored; the worker resolves it when it signs.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from cb.state import state_connection
from cb.state.dialect import dialect_of

TABLE = "cb_webhook_outbox"
ATTEMPTS_TABLE = "cb_webhook_attempts"
DEFAULT_MAX_ATTEMPTS = 10
#: held: waiting for post-call work (returns) to fill the body; sent as it is if that never ends.
STATUSES = ("held", "pending", "delivering", "delivered", "dead")

SCHEMA = [
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        id TEXT PRIMARY KEY,
        call_id TEXT NOT NULL,
        event TEXT NOT NULL,
        url TEXT NOT NULL,
        secret_ref TEXT,
        body TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL,
        next_attempt_at REAL NOT NULL,
        lease_until REAL,
        lease_owner TEXT,
        last_status INTEGER,
        last_error TEXT,
        created_at REAL NOT NULL,
        delivered_at REAL)""",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_due ON {TABLE} (status, next_attempt_at)",
    f"""CREATE TABLE IF NOT EXISTS {ATTEMPTS_TABLE} (
        outbox_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        at REAL NOT NULL,
        http_status INTEGER,
        error TEXT,
        duration_ms REAL)""",
    f"CREATE INDEX IF NOT EXISTS {ATTEMPTS_TABLE}_id ON {ATTEMPTS_TABLE} (outbox_id, attempt)",
]


@dataclass(frozen=True)
class OutboxRow:
    id: str
    call_id: str
    event: str
    url: str
    secret_ref: str | None
    body: str
    status: str
    attempts: int
    max_attempts: int
    next_attempt_at: float
    lease_until: float | None
    lease_owner: str | None
    last_status: int | None
    last_error: str | None
    created_at: float
    delivered_at: float | None

    def summary(self) -> dict[str, Any]:
        """Everything but the body, for listings (bodies can hold personal data)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("body", "lease_owner")}


_COLUMNS = ", ".join(OutboxRow.__dataclass_fields__)


def connect(state_dir: Path | str) -> sqlite3.Connection:
    """The database the state of ``state_dir`` lives in (``<state dir>/state.db``, or the shared
    PostgreSQL one of ``--state-db``: every runner on it then delivers any runner's outbox), with
    the outbox tables."""
    conn = state_connection(state_dir)
    ensure_schema(conn)
    return conn


def ensure_schema(conn: sqlite3.Connection) -> None:
    for statement in SCHEMA:
        conn.execute(statement)


def delivery_id(call_id: str, event: str, url: str) -> str:
    """Deterministic, so enqueueing the same delivery twice (a retried transaction) is a no-op."""
    return "whd_" + hashlib.sha256(f"{call_id}\n{event}\n{url}".encode()).hexdigest()[:24]


def enqueue(conn: sqlite3.Connection, *, call_id: str, url: str, payload: BaseModel | dict | str,
            event: str = "call.completed", secret_ref: str | None = None,
            max_attempts: int = DEFAULT_MAX_ATTEMPTS, hold_sec: float | None = None,
            now: float | None = None) -> str:
    """Owe one delivery. Does not commit: call it inside the call record's transaction.

    With an autocommit connection and no open transaction, the insert commits on its own.
    ``hold_sec``: the body is provisional; ``Outbox.release`` replaces it when post-call work is
    done. Should the runner die first, the held row is sent as it is once ``hold_sec`` passed,
    so the receiver still hears about the call (with the provisional body's honest error).
    """
    if secret_ref is not None and not secret_ref.startswith("${env:"):
        raise ValueError("secret_ref must be a ${env:NAME} reference, never the secret itself")
    if isinstance(payload, BaseModel):
        body = payload.model_dump_json()
    elif isinstance(payload, dict):
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True)
    else:
        body = payload
    ensure_schema(conn)
    now = time.time() if now is None else now
    row_id = delivery_id(call_id, event, url)
    status, due = ("held", now + hold_sec) if hold_sec is not None else ("pending", now)
    conn.execute(
        f"INSERT INTO {TABLE} (id, call_id, event, url, secret_ref, body, status, attempts,"
        " max_attempts, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)"
        " ON CONFLICT (id) DO NOTHING",
        (row_id, call_id, event, url, secret_ref, body, status, max_attempts, due, now))
    return row_id


def backoff_delay(attempts: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: somewhere in [d/2, d], d = min(cap, base * 2^(n-1)).

    Jitter spreads retries out so a receiver coming back from an outage is not hit by every
    runner at the same instant; the floor of d/2 keeps the schedule predictable for operators.
    """
    d = min(cap, base * (2 ** max(0, attempts - 1)))
    return (rng or random).uniform(d / 2, d)


class Outbox:
    """The outbox table behind one connection; safe to share between threads (one lock)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.lock = threading.Lock()
        with self.lock:
            ensure_schema(conn)

    @classmethod
    def open(cls, state_dir: Path | str) -> "Outbox":
        return cls(connect(state_dir))

    def close(self) -> None:
        self.conn.close()

    def enqueue(self, **kwargs: Any) -> str:
        with self.lock:
            return enqueue(self.conn, **kwargs)

    def _tx(self):
        return _Transaction(self.conn, self.lock)

    def claim(self, owner: str, lease_sec: float, limit: int = 1, now: float | None = None) -> list[OutboxRow]:
        """Lease up to ``limit`` due rows: pending and due, or delivering with an expired lease.

        The attempt is counted at claim time, so a delivery that crashes its worker every time
        still runs out of attempts instead of crashing workers forever. Several runners on one
        PostgreSQL database claim from one table: the rows are picked ``FOR UPDATE SKIP LOCKED``
        and the ``UPDATE`` repeats what makes a row due, so each row goes to exactly one of them.
        """
        now = time.time() if now is None else now
        due = ("((status IN ('pending', 'held') AND next_attempt_at <= ?)"
               " OR (status='delivering' AND lease_until <= ?))")
        with self._tx() as conn:
            conn.execute(
                f"UPDATE {TABLE} SET status='dead', lease_until=NULL, lease_owner=NULL,"
                " last_error=COALESCE(last_error, 'worker died during the last attempt')"
                " WHERE status='delivering' AND lease_until <= ? AND attempts >= max_attempts", (now,))
            rows = conn.execute(
                f"UPDATE {TABLE} SET status='delivering', lease_until=?, lease_owner=?, attempts=attempts+1"
                f" WHERE id IN (SELECT id FROM {TABLE} WHERE {due} ORDER BY next_attempt_at LIMIT ?"
                f"{dialect_of(conn).skip_locked}) AND {due} RETURNING {_COLUMNS}",
                (now + lease_sec, owner, now, now, limit, now, now)).fetchall()
        return [OutboxRow(*r) for r in rows]

    def leases(self) -> list[tuple[str, str]]:
        """(id, owner) of every row being delivered right now."""
        with self.lock:
            return self.conn.execute(
                f"SELECT id, lease_owner FROM {TABLE} WHERE status='delivering'").fetchall()

    def expire_leases(self, ids: list[str], now: float | None = None) -> None:
        """End these leases now: their owner is known to be dead, so nobody is delivering them."""
        if not ids:
            return
        now = time.time() if now is None else now
        with self._tx() as conn:
            conn.executemany(f"UPDATE {TABLE} SET lease_until=? WHERE id=? AND status='delivering'",
                             [(now, i) for i in ids])

    def record_attempt(self, row: OutboxRow, *, http_status: int | None, error: str | None,
                       duration_ms: float, ok: bool, owner: str, base_delay: float, max_delay: float,
                       now: float | None = None) -> str:
        """Store one attempt's outcome; return the row's new status."""
        now = time.time() if now is None else now
        with self._tx() as conn:
            conn.execute(f"INSERT INTO {ATTEMPTS_TABLE} VALUES (?, ?, ?, ?, ?, ?)",
                         (row.id, row.attempts, now, http_status, error, duration_ms))
            if ok:
                conn.execute(
                    f"UPDATE {TABLE} SET status='delivered', delivered_at=?, last_status=?, last_error=NULL,"
                    " lease_until=NULL, lease_owner=NULL WHERE id=?", (now, http_status, row.id))
                return "delivered"
            status = "dead" if row.attempts >= row.max_attempts else "pending"
            delay = backoff_delay(row.attempts, base=base_delay, cap=max_delay)
            # Only the lease holder may reschedule: a worker whose lease expired lost the row.
            conn.execute(
                f"UPDATE {TABLE} SET status=?, next_attempt_at=?, last_status=?, last_error=?,"
                " lease_until=NULL, lease_owner=NULL WHERE id=? AND lease_owner=? AND status='delivering'",
                (status, now + delay, http_status, error, row.id, owner))
            return status

    def release(self, row_id: str, payload: BaseModel | str, now: float | None = None) -> bool:
        """Put the final body on a held delivery and owe it now; False if it had already gone."""
        now = time.time() if now is None else now
        body = payload.model_dump_json() if isinstance(payload, BaseModel) else payload
        with self._tx() as conn:
            cur = conn.execute(f"UPDATE {TABLE} SET body=?, status='pending', next_attempt_at=?"
                               " WHERE id=? AND status='held'", (body, now, row_id))
        return cur.rowcount == 1

    def get(self, row_id: str) -> OutboxRow | None:
        with self.lock:
            r = self.conn.execute(f"SELECT {_COLUMNS} FROM {TABLE} WHERE id=?", (row_id,)).fetchone()
        return OutboxRow(*r) if r else None

    def find(self, prefix: str) -> OutboxRow | None:
        """A row by its id or an unambiguous prefix of it (ids are long to type)."""
        with self.lock:
            rows = self.conn.execute(f"SELECT {_COLUMNS} FROM {TABLE} WHERE id=?", (prefix,)).fetchall()
            if not rows:
                rows = self.conn.execute(f"SELECT {_COLUMNS} FROM {TABLE} WHERE substr(id, 1, ?)=? LIMIT 2",
                                         (len(prefix), prefix)).fetchall()
        return OutboxRow(*rows[0]) if len(rows) == 1 else None

    def list(self, status: str | None = None, call_id: str | None = None, limit: int = 50) -> list[OutboxRow]:
        where, args = [], []
        if status:
            where.append("status=?")
            args.append(status)
        if call_id:
            where.append("call_id=?")
            args.append(call_id)
        sql = f"SELECT {_COLUMNS} FROM {TABLE}" + (" WHERE " + " AND ".join(where) if where else "")
        with self.lock:
            rows = self.conn.execute(sql + " ORDER BY created_at DESC LIMIT ?", (*args, limit)).fetchall()
        return [OutboxRow(*r) for r in rows]

    def attempts(self, row_id: str) -> list[dict[str, Any]]:
        with self.lock:
            rows = self.conn.execute(
                f"SELECT attempt, at, http_status, error, duration_ms FROM {ATTEMPTS_TABLE}"
                " WHERE outbox_id=? ORDER BY at", (row_id,)).fetchall()
        return [dict(zip(("attempt", "at", "http_status", "error", "duration_ms"), r)) for r in rows]

    def replay(self, row_id: str, now: float | None = None) -> OutboxRow:
        """Owe the delivery again, with a fresh set of attempts, due now. Same idempotency key."""
        now = time.time() if now is None else now
        with self._tx() as conn:
            cur = conn.execute(
                f"UPDATE {TABLE} SET status='pending', attempts=0, next_attempt_at=?, lease_until=NULL,"
                " lease_owner=NULL, delivered_at=NULL WHERE id=?", (now, row_id))
            if cur.rowcount != 1:
                raise KeyError(row_id)
        return self.get(row_id)  # type: ignore[return-value]


class _Transaction:
    def __init__(self, conn: sqlite3.Connection, lock: threading.Lock):
        self.conn, self.lock = conn, lock

    def __enter__(self) -> sqlite3.Connection:
        self.lock.acquire()
        try:
            dialect_of(self.conn).begin(self.conn)
        except BaseException:
            self.lock.release()
            raise
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.lock.release()
