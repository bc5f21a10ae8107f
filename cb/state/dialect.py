"""Everything SQL-dialect specific lives here, so PostgreSQL could back the store.

The statements in ``store.py`` are portable SQL (``INSERT ... ON CONFLICT``, no SQLite-only
functions) written with ``?`` placeholders; a PostgreSQL dialect would translate them to ``%s``
and open a psycopg connection instead. Only SQLite is implemented: it is the embedded default.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS cb_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS cb_blobs (
        hash TEXT PRIMARY KEY,
        content TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS cb_revisions (
        id INTEGER PRIMARY KEY,
        serial INTEGER NOT NULL,
        address TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        action TEXT NOT NULL,
        hash TEXT,
        applied_at TEXT NOT NULL,
        source TEXT NOT NULL,
        cause TEXT NOT NULL,
        applied_by TEXT NOT NULL,
        moved_from TEXT,
        prev_chain TEXT NOT NULL,
        chain TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS cb_revisions_address ON cb_revisions (address, id)",
    """CREATE TABLE IF NOT EXISTS cb_live (
        address TEXT PRIMARY KEY,
        revision_id INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS cb_locks (
        name TEXT PRIMARY KEY,
        id TEXT NOT NULL,
        holder TEXT NOT NULL,
        operation TEXT NOT NULL,
        created_at TEXT NOT NULL)""",
]


class SQLite:
    name = "sqlite"

    def connect(self, state_dir: Path) -> sqlite3.Connection:
        state_dir.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(state_dir / "state.db", check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        return conn

    def begin_write(self, conn: sqlite3.Connection) -> None:
        """Take the write lock up front, so two writers serialise instead of deadlocking."""
        conn.execute("BEGIN IMMEDIATE")

    def is_unique_violation(self, exc: Exception) -> bool:
        return isinstance(exc, sqlite3.IntegrityError)
