"""The dial queue and the attempt log, in the runner's state database (SQLite or PostgreSQL).

Written through the state store's own connection under its mutex (``cb.state``'s connection
owner), with portable SQL (``?`` placeholders, ``RETURNING``), so several runners sharing one
PostgreSQL database share one queue.

A row waits (``waiting``, due at ``not_before``) until a dialler *leases* it: one conditional
UPDATE moves it to ``dialling`` with ``lease_until``, so two dialers never hold it at once; a
dialler that dies leaves the lease to expire and the next one takes the row again (at least
once). The rules are judged and the attempt is written in one ``gate`` transaction that
serialises every dialler on the database (SQLite's write lock, a PostgreSQL table lock), so a
pacing or attempt limit holds across processes. Then the dial; then ``dialled`` with the call id,
or back to ``waiting`` with the reason, or ``refused`` with the rule that refused it.
"""

from __future__ import annotations

import json
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

QUEUE = "cb_dial_queue"
ATTEMPTS = "cb_dial_attempts"
DNC = "cb_do_not_call"  # the internal list: numbers whose owner asked on a call not to be called
STATUSES = ("waiting", "dialling", "dialled", "refused", "canceled")

SCHEMA = [
    f"""CREATE TABLE IF NOT EXISTS {QUEUE} (
        id TEXT PRIMARY KEY,
        agent TEXT NOT NULL,
        to_number TEXT NOT NULL,
        request TEXT NOT NULL,
        tz TEXT,
        consent TEXT,
        status TEXT NOT NULL,
        not_before DOUBLE PRECISION NOT NULL,
        lease_owner TEXT,
        lease_until DOUBLE PRECISION,
        reason TEXT,
        decisions TEXT NOT NULL DEFAULT '[]',
        call_id TEXT,
        batch TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL)""",
    f"CREATE INDEX IF NOT EXISTS {QUEUE}_due ON {QUEUE} (status, not_before)",
    f"""CREATE TABLE IF NOT EXISTS {ATTEMPTS} (
        queue_id TEXT NOT NULL,
        number TEXT NOT NULL,
        policy TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        call_id TEXT,
        ended_at DOUBLE PRECISION)""",
    f"CREATE INDEX IF NOT EXISTS {ATTEMPTS}_number ON {ATTEMPTS} (number, policy, at)",
    f"CREATE INDEX IF NOT EXISTS {ATTEMPTS}_policy ON {ATTEMPTS} (policy, at)",
    f"""CREATE TABLE IF NOT EXISTS {DNC} (
        number TEXT PRIMARY KEY,
        words TEXT NOT NULL,
        call_id TEXT,
        agent TEXT,
        at DOUBLE PRECISION NOT NULL)""",
]

COLUMNS = ("id", "agent", "to_number", "request", "tz", "consent", "status", "not_before", "lease_owner",
           "lease_until", "reason", "decisions", "call_id", "batch", "created_at", "updated_at")


@dataclass(frozen=True)
class Entry:
    id: str
    agent: str
    to_number: str
    request: dict[str, Any]
    tz: str | None
    consent: dict[str, Any] | None
    status: str
    not_before: float
    lease_owner: str | None
    lease_until: float | None
    reason: str | None
    decisions: list[dict[str, Any]]
    call_id: str | None
    batch: str | None
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: tuple) -> "Entry":
        d = dict(zip(COLUMNS, row))
        d["request"] = json.loads(d["request"])
        d["consent"] = json.loads(d["consent"]) if d["consent"] else None
        d["decisions"] = json.loads(d["decisions"] or "[]")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("request", "lease_owner")}
        out["context"] = self.request.get("context") or {}
        return out


class DialQueue:
    def __init__(self, conn: Any, mutex: Any, postgres: bool = False):
        self.conn, self.mutex, self.postgres = conn, mutex, postgres
        with self.mutex:
            for statement in SCHEMA:
                self.conn.execute(statement)

    @classmethod
    def for_store(cls, store: Any) -> "DialQueue":
        return cls(store.connection, store.mutex, getattr(store.dialect, "name", "") == "postgresql")

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self.mutex:
            self.conn.execute("BEGIN" if self.postgres else "BEGIN IMMEDIATE")
            try:
                if self.postgres:
                    self.conn.execute(f"LOCK TABLE {ATTEMPTS} IN EXCLUSIVE MODE")
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    gate = _tx  # judge the rules and write the attempt as one step across every dialler

    # ------------------------------------------------------------------ writing
    def enqueue(self, *, agent: str, to: str, request: dict[str, Any], tz: str | None, consent: dict | None,
                now: float, batch: str | None = None, tx: Any = None) -> str:
        qid = "q_" + uuid.uuid4().hex[:20]
        sql = (f"INSERT INTO {QUEUE} (id, agent, to_number, request, tz, consent, status, not_before, decisions,"
               " batch, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'waiting', ?, '[]', ?, ?, ?)")
        params = (qid, agent, to, json.dumps(request, sort_keys=True), tz,
                  json.dumps(consent) if consent else None, now, batch, now, now)
        if tx is not None:
            tx.execute(sql, params)
        else:
            with self.mutex:
                self.conn.execute(sql, params)
        return qid

    def enqueue_many(self, rows: list[dict[str, Any]], now: float, batch: str) -> list[str]:
        with self._tx() as tx:
            return [self.enqueue(now=now, tx=tx, **{**row, "batch": batch}) for row in rows]

    def claim(self, owner: str, lease_sec: float, now: float, limit: int = 10,
              only: str | None = None) -> list[Entry]:
        """Lease up to ``limit`` due rows (or the row ``only``): one conditional UPDATE each."""
        due = ("(status = 'waiting' AND not_before <= ?) OR (status = 'dialling' AND lease_until <= ?)")
        with self.mutex:
            if only is not None:
                ids = [only]
            else:
                ids = [r[0] for r in self.conn.execute(
                    f"SELECT id FROM {QUEUE} WHERE {due} ORDER BY not_before, created_at LIMIT ?",
                    (now, now, limit)).fetchall()]
            got = []
            for qid in ids:
                rows = self.conn.execute(
                    f"UPDATE {QUEUE} SET status = 'dialling', lease_owner = ?, lease_until = ?, updated_at = ?"
                    f" WHERE id = ? AND ({due}) RETURNING {', '.join(COLUMNS)}",
                    (owner, now + lease_sec, now, qid, now, now)).fetchall()
                got.extend(Entry.from_row(r) for r in rows)
        return got

    def settle(self, qid: str, owner: str, status: str, *, now: float, decisions: list[dict[str, Any]],
               reason: str | None, not_before: float | None = None, call_id: str | None = None,
               tx: Any = None) -> bool:
        """The lease holder's outcome; False when the lease was lost (another dialler has the row)."""
        sql = (f"UPDATE {QUEUE} SET status = ?, not_before = COALESCE(?, not_before), reason = ?, decisions = ?,"
               " call_id = COALESCE(?, call_id), lease_owner = NULL, lease_until = NULL, updated_at = ?"
               " WHERE id = ? AND lease_owner = ? AND status = 'dialling'")
        params = (status, not_before, reason, json.dumps(decisions), call_id, now, qid, owner)
        if tx is not None:
            return tx.execute(sql, params).rowcount == 1
        with self.mutex:
            return self.conn.execute(sql, params).rowcount == 1

    def record_attempt(self, tx: Any, qid: str, number: str, policies: list[str], at: float) -> None:
        for policy in policies or ["-"]:
            tx.execute(f"INSERT INTO {ATTEMPTS} (queue_id, number, policy, at) VALUES (?, ?, ?, ?)",
                       (qid, number, policy, at))

    def attempt_placed(self, qid: str, call_id: str) -> None:
        with self.mutex:
            self.conn.execute(f"UPDATE {ATTEMPTS} SET call_id = ? WHERE queue_id = ? AND call_id IS NULL",
                              (call_id, qid))

    def call_ended(self, call_id: str, now: float) -> None:
        with self.mutex:
            self.conn.execute(f"UPDATE {ATTEMPTS} SET ended_at = ? WHERE call_id = ? AND ended_at IS NULL",
                              (now, call_id))

    def cancel(self, qid: str, now: float) -> bool:
        with self.mutex:
            return self.conn.execute(
                f"UPDATE {QUEUE} SET status = 'canceled', reason = 'canceled by request', updated_at = ?"
                " WHERE id = ? AND status = 'waiting'", (now, qid)).rowcount == 1

    def do_not_call(self, number: str, words: str, *, call_id: str | None, agent: str | None, at: float) -> None:
        """Put a number on the internal do-not-call list (the first request's words are kept)."""
        with self.mutex:
            self.conn.execute(f"INSERT INTO {DNC} (number, words, call_id, agent, at) VALUES (?, ?, ?, ?, ?)"
                              " ON CONFLICT (number) DO NOTHING", (number, words, call_id, agent, at))

    def asked_not_to_call(self, number: str, tx: Any = None) -> dict[str, Any] | None:
        """The internal list's entry for a number: {words, call_id, agent, at}, or None."""
        sql, params = f"SELECT words, call_id, agent, at FROM {DNC} WHERE number = ?", (number,)
        if tx is not None:
            row = tx.execute(sql, params).fetchone()
        else:
            with self.mutex:
                row = self.conn.execute(sql, params).fetchone()
        return dict(zip(("words", "call_id", "agent", "at"), row)) if row else None

    # ------------------------------------------------------------------ reading
    def get(self, qid: str) -> Entry | None:
        with self.mutex:
            row = self.conn.execute(f"SELECT {', '.join(COLUMNS)} FROM {QUEUE} WHERE id = ?", (qid,)).fetchone()
        return Entry.from_row(row) if row else None

    def list(self, statuses: tuple[str, ...] = ("waiting", "dialling"), limit: int = 100,
             agent: str | None = None) -> list[Entry]:
        where = f"status IN ({', '.join('?' * len(statuses))})"
        params: tuple = statuses
        if agent:
            where, params = where + " AND agent = ?", (*params, agent)
        with self.mutex:
            rows = self.conn.execute(f"SELECT {', '.join(COLUMNS)} FROM {QUEUE} WHERE {where}"
                                     " ORDER BY not_before, created_at LIMIT ?", (*params, limit)).fetchall()
        return [Entry.from_row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self.mutex:
            return dict(self.conn.execute(f"SELECT status, COUNT(*) FROM {QUEUE} GROUP BY status").fetchall())


class DbHistory:
    """``rules.History`` read inside the gate transaction."""

    def __init__(self, tx: Any, max_call_sec: float = 3 * 3600):
        self.tx, self.max_call_sec = tx, max_call_sec
        self.now = 0.0

    def attempts(self, number: str, policy: str, since: float) -> list[float]:
        return [r[0] for r in self.tx.execute(
            f"SELECT at FROM {ATTEMPTS} WHERE number = ? AND policy = ? AND at > ?", (number, policy, since)).fetchall()]

    def started(self, policy: str, since: float) -> list[float]:
        return [r[0] for r in self.tx.execute(
            f"SELECT at FROM {ATTEMPTS} WHERE policy = ? AND at > ?", (policy, since)).fetchall()]

    def in_progress(self, policy: str) -> int:
        return self.tx.execute(f"SELECT COUNT(*) FROM {ATTEMPTS} WHERE policy = ? AND ended_at IS NULL AND at > ?",
                               (policy, self.now - self.max_call_sec)).fetchone()[0]
