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

#: Outbound calls start queued and walk the carrier's states (initiated, ringing); every call is
#: ringing once its webhook is answered, in-progress while media flows, then completed | busy |
#: no-answer | failed | canceled (the carrier's final states) or refused.
STATUSES = ("queued", "initiated", "ringing", "in-progress", "completed", "busy", "no-answer", "failed",
            "canceled", "refused")
FINAL = ("completed", "busy", "no-answer", "failed", "canceled", "refused")

#: Columns added after the first release: created on an older state.db by ``ALTER TABLE``.
ADDED_COLUMNS = {
    "answered_by": "TEXT",  # Twilio's AnsweredBy, or the local detector's
    "voicemail": "TEXT",  # what the agent did on a machine: left_message | hung_up | ignored
    "stir_verstat": "TEXT",  # inbound: Twilio's StirVerstat
    "sip_response_code": "INTEGER",
    "error_code": "INTEGER",  # the carrier's error code (Twilio 21215, ...)
    "carrier_duration_sec": "INTEGER",  # CallDuration from the carrier's final status callback
    "metadata": "TEXT",  # JSON given with POST /v1/calls, echoed in the webhook
    "fallbacks": "TEXT",  # JSON list: each fallback provider that took over a part, and why
    "compliance": "TEXT",  # JSON list: every compliance decision {rule, policy, outcome, detail}
    "sip_call_id": "TEXT",  # SIP calls: the Call-ID of the INVITE
    "remote_party": "TEXT",  # SIP calls: the far end's URI user and address (caller inbound, callee outbound)
    "codec": "TEXT",  # SIP calls: PCMU or PCMA, as negotiated
    "events": "TEXT",  # JSON list: the call's states and the carrier's callbacks, each {at, source, status, ...}
}
JSON_COLUMNS = ("metadata", "fallbacks", "compliance", "events")
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
    answered_by: str | None = None
    voicemail: str | None = None
    stir_verstat: str | None = None
    sip_response_code: int | None = None
    error_code: int | None = None
    carrier_duration_sec: int | None = None
    metadata: dict[str, Any] | None = None
    fallbacks: list[str] | None = None
    compliance: list[dict[str, Any]] | None = None
    sip_call_id: str | None = None
    remote_party: str | None = None
    codec: str | None = None
    events: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class CallRecords:
    """Reads and writes call records on a sqlite3 connection guarded by ``mutex``."""

    def __init__(self, conn: sqlite3.Connection, mutex: Any):
        self._conn, self._mutex = conn, mutex
        with self._mutex:
            for statement in SCHEMA:
                self._conn.execute(statement)
            # The columns as the driver sees them: one query for SQLite and PostgreSQL alike.
            have = {col[0] for col in self._conn.execute("SELECT * FROM cb_calls LIMIT 0").description}
            for name, kind in ADDED_COLUMNS.items():
                if name not in have:
                    self._conn.execute(f"ALTER TABLE cb_calls ADD COLUMN {name} {kind}")

    @classmethod
    def for_store(cls, store: Any) -> "CallRecords":
        return cls(store.connection, store.mutex)

    def _write(self, sql: str, params: tuple) -> None:
        with self._mutex:  # autocommit connection: one statement, one transaction
            self._conn.execute(sql, params)

    def create(self, rec: CallRecord) -> None:
        self._write(
            "INSERT INTO cb_calls (id, agent, agent_revision, state_serial, number, direction, from_number, "
            "to_number, provider_call_id, created_at, status, stir_verstat, metadata, compliance, events) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (rec.id, rec.agent, rec.agent_revision, rec.state_serial, rec.number, rec.direction,
             rec.from_number, rec.to_number, rec.provider_call_id, rec.created_at, rec.status, rec.stir_verstat,
             json.dumps(rec.metadata) if rec.metadata is not None else None,
             json.dumps(rec.compliance) if rec.compliance is not None else None,
             json.dumps([{"at": rec.created_at, "source": "runner", "status": rec.status}])))

    def event(self, call_id: str, source: str, status: str, **detail: Any) -> None:
        """Add a timed event to the call's history: ``runner`` (its own state changes) or ``carrier``
        (a status or AMD callback, with what it said)."""
        entry = {"at": now(), "source": source, "status": status,
                 **{k: v for k, v in detail.items() if v not in (None, "")}}
        with self._mutex:
            row = self._conn.execute("SELECT events FROM cb_calls WHERE id = ?", (call_id,)).fetchone()
            if row is None:
                return
            self._conn.execute("UPDATE cb_calls SET events = ? WHERE id = ?",
                               (json.dumps(json.loads(row[0] or "[]") + [entry]), call_id))

    def update(self, call_id: str, **fields: Any) -> None:
        """Set some of the added columns, ``status`` or ``provider_call_id`` (a carrier's callback)."""
        allowed = set(ADDED_COLUMNS) | {"status", "provider_call_id", "started_at", "error", "end_reason"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        if not fields:
            return
        values = [json.dumps(v) if k in JSON_COLUMNS else v for k, v in fields.items()]
        self._write(f"UPDATE cb_calls SET {', '.join(k + ' = ?' for k in fields)} WHERE id = ?", (*values, call_id))

    def advance(self, call_id: str, status: str) -> bool:
        """Move a call forward to a non-final carrier state (queued < initiated < ringing < in-progress);
        callbacks may arrive out of order, so a later state is never undone. False if nothing moved."""
        order = STATUSES[:4]
        with self._mutex:
            row = self._conn.execute("SELECT status FROM cb_calls WHERE id = ?", (call_id,)).fetchone()
            if row is None or row[0] not in order or order.index(row[0]) >= order.index(status):
                return False
            self._conn.execute("UPDATE cb_calls SET status = ? WHERE id = ?", (status, call_id))
            self.event(call_id, "runner", status)
            return True

    def by_provider_id(self, provider_call_id: str) -> str | None:
        with self._mutex:
            row = self._conn.execute("SELECT id FROM cb_calls WHERE provider_call_id = ? ORDER BY created_at DESC",
                                     (provider_call_id,)).fetchone()
        return row[0] if row else None

    def started(self, call_id: str) -> None:
        self._write("UPDATE cb_calls SET status = 'in-progress', started_at = ? WHERE id = ?", (now(), call_id))
        self.event(call_id, "runner", "in-progress")

    def add_turn(self, call_id: str, turn: int, latency: dict[str, float | None]) -> None:
        self._write(
            f"INSERT INTO cb_call_turns (call_id, turn, {', '.join(LATENCY_FIELDS)}) VALUES (?,?,?,?,?,?,?) "
            f"ON CONFLICT (call_id, turn) DO UPDATE SET {', '.join(f'{k} = excluded.{k}' for k in LATENCY_FIELDS)}",
            (call_id, turn, *(latency.get(k) for k in LATENCY_FIELDS)))

    def finish(self, call_id: str, status: str, end_reason: str, transcript: list[dict[str, Any]],
               error: str | None = None) -> None:
        self._write("UPDATE cb_calls SET status = ?, end_reason = ?, ended_at = ?, transcript = ?, error = ? "
                    "WHERE id = ?", (status, end_reason, now(), json.dumps(transcript), error, call_id))
        self.event(call_id, "runner", status, end_reason=end_reason)

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
        for name in JSON_COLUMNS:
            data[name] = json.loads(data[name]) if data.get(name) else None
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
