"""Call records: one row per call, one per agent turn, in the runner's state database.

They live beside the state tables (same ``state.db``, WAL) so "which revision handled which
call" is one join away for an auditor. The tables are created here, IF NOT EXISTS, and written
through the store's own connection under its mutex.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS cb_calls (
        id TEXT PRIMARY KEY,
        agent TEXT NOT NULL,
        agent_revision TEXT NOT NULL,
        state_serial INTEGER NOT NULL,
        number TEXT,
        direction TEXT NOT NULL,
        from_number TEXT,
        to_number TEXT,
        provider_call_id TEXT,
        created_at TEXT NOT NULL,
        started_at TEXT,
        ended_at TEXT,
        status TEXT NOT NULL,
        end_reason TEXT,
        error TEXT,
        transcript TEXT NOT NULL DEFAULT '[]'
    )""",
    "CREATE INDEX IF NOT EXISTS cb_calls_agent ON cb_calls (agent, created_at)",
    """CREATE TABLE IF NOT EXISTS cb_call_turns (
        call_id TEXT NOT NULL REFERENCES cb_calls(id),
        turn INTEGER NOT NULL,
        endpointing_ms REAL,
        stt_ms REAL,
        llm_first_token_ms REAL,
        tts_first_audio_ms REAL,
        total_ms REAL,
        PRIMARY KEY (call_id, turn)
    )""",
]

#: ringing (webhook answered) -> in-progress (media flowing) -> completed | failed | refused
STATUSES = ("ringing", "in-progress", "completed", "failed", "refused")
LATENCY_FIELDS = ("endpointing_ms", "stt_ms", "llm_first_token_ms", "tts_first_audio_ms", "total_ms")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class CallRecord:
    id: str
    agent: str
    agent_revision: str
    state_serial: int
    direction: str
    from_number: str | None
    to_number: str | None
    number: str | None = None
    provider_call_id: str | None = None
    created_at: str = field(default_factory=now)
    started_at: str | None = None
    ended_at: str | None = None
    status: str = "ringing"
    end_reason: str | None = None
    error: str | None = None
    transcript: list[dict[str, Any]] = field(default_factory=list)
    turns: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class CallRecords:
    """Reads and writes call records on a sqlite3 connection guarded by ``mutex``."""

    def __init__(self, conn: sqlite3.Connection, mutex: Any):
        self._conn, self._mutex = conn, mutex
        with self._mutex:
            for statement in SCHEMA:
                self._conn.execute(statement)

    @classmethod
    def for_store(cls, store: Any) -> "CallRecords":
        return cls(store.connection, store.mutex)

    def _write(self, sql: str, params: tuple) -> None:
        with self._mutex:  # autocommit connection: one statement, one transaction
            self._conn.execute(sql, params)

    def create(self, rec: CallRecord) -> None:
        self._write(
            "INSERT INTO cb_calls (id, agent, agent_revision, state_serial, number, direction, from_number, "
            "to_number, provider_call_id, created_at, status) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (rec.id, rec.agent, rec.agent_revision, rec.state_serial, rec.number, rec.direction,
             rec.from_number, rec.to_number, rec.provider_call_id, rec.created_at, rec.status))

    def started(self, call_id: str) -> None:
        self._write("UPDATE cb_calls SET status = 'in-progress', started_at = ? WHERE id = ?", (now(), call_id))

    def add_turn(self, call_id: str, turn: int, latency: dict[str, float | None]) -> None:
        self._write(
            f"INSERT OR REPLACE INTO cb_call_turns (call_id, turn, {', '.join(LATENCY_FIELDS)}) VALUES (?,?,?,?,?,?,?)",
            (call_id, turn, *(latency.get(k) for k in LATENCY_FIELDS)))

    def finish(self, call_id: str, status: str, end_reason: str, transcript: list[dict[str, Any]],
               error: str | None = None) -> None:
        self._write("UPDATE cb_calls SET status = ?, end_reason = ?, ended_at = ?, transcript = ?, error = ? "
                    "WHERE id = ?", (status, end_reason, now(), json.dumps(transcript), error, call_id))

    def get(self, call_id: str) -> CallRecord | None:
        with self._mutex:
            row = self._conn.execute("SELECT * FROM cb_calls WHERE id = ?", (call_id,)).fetchone()
            if row is None:
                return None
            names = [d[0] for d in self._conn.execute("SELECT * FROM cb_calls LIMIT 0").description]
            turns = self._conn.execute(
                f"SELECT turn, {', '.join(LATENCY_FIELDS)} FROM cb_call_turns WHERE call_id = ? ORDER BY turn",
                (call_id,)).fetchall()
        data = dict(zip(names, row))
        data["transcript"] = json.loads(data["transcript"] or "[]")
        data["turns"] = [dict(zip(("turn", *LATENCY_FIELDS), t)) for t in turns]
        return CallRecord(**data)

    def list(self, limit: int = 50, agent: str | None = None) -> list[CallRecord]:
        with self._mutex:
            sql, params = "SELECT id FROM cb_calls", ()
            if agent:
                sql, params = sql + " WHERE agent = ?", (agent,)
            ids = [r[0] for r in self._conn.execute(sql + " ORDER BY created_at DESC LIMIT ?", (*params, limit))]
        return [r for r in (self.get(i) for i in ids) if r is not None]


def open_records(state_dir: str | Path) -> CallRecords:
    """Records on a connection of their own (for readers outside the runner process)."""
    import threading

    from cb.state import sqlite_connection

    return CallRecords(sqlite_connection(state_dir), threading.RLock())
