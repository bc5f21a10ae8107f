"""What a call produced after it ended: returns, the tool log, where its recording and transcript are.

Kept in its own table beside the call records (``cb_calls``, written by the call path) so each
side writes only its own rows; ``cb calls show`` joins the two by call id.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

TABLE = "cb_call_outcomes"
SCHEMA = [f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    call_id TEXT PRIMARY KEY,
    returns TEXT,
    returns_error TEXT,
    returns_attempts INTEGER NOT NULL DEFAULT 0,
    tool_calls TEXT NOT NULL DEFAULT '[]',
    turns TEXT NOT NULL DEFAULT '[]',
    recording TEXT,
    transcript TEXT,
    webhooks TEXT NOT NULL DEFAULT '[]',
    cost TEXT,
    updated_at REAL NOT NULL)"""]
JSON_FIELDS = ("returns", "tool_calls", "turns", "webhooks", "cost")


def call_dir(state_dir: str | Path, call_id: str) -> Path:
    """Where a call's recording.wav and transcript.json live."""
    return Path(state_dir) / "calls" / call_id


def ensure_schema(conn: sqlite3.Connection) -> None:
    for statement in SCHEMA:
        conn.execute(statement)
    # a state folder from before calls were priced: add the column (issue 19)
    if "cost" not in [d[0] for d in conn.execute(f"SELECT * FROM {TABLE} LIMIT 0").description]:
        conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN cost TEXT")


def save(conn: sqlite3.Connection, call_id: str, **fields: Any) -> None:
    ensure_schema(conn)
    row = {k: json.dumps(v, default=str) if k in JSON_FIELDS and v is not None else v for k, v in fields.items()}
    row["updated_at"] = time.time()
    names = ", ".join(row)
    updates = ", ".join(f"{k}=excluded.{k}" for k in row)
    conn.execute(f"INSERT INTO {TABLE} (call_id, {names}) VALUES (?{', ?' * len(row)})"
                 f" ON CONFLICT (call_id) DO UPDATE SET {updates}", (call_id, *row.values()))


def get(conn: sqlite3.Connection, call_id: str) -> dict[str, Any] | None:
    ensure_schema(conn)
    cur = conn.execute(f"SELECT * FROM {TABLE} WHERE call_id=?", (call_id,))
    row = cur.fetchone()
    if row is None:
        return None
    out = dict(zip([d[0] for d in cur.description], row))
    for k in JSON_FIELDS:
        out[k] = json.loads(out[k]) if out[k] is not None else None
    return out
