"""Everything SQL-dialect specific lives here: SQLite (the embedded default) and PostgreSQL.

The statements in ``store.py`` are portable SQL (``INSERT ... ON CONFLICT``, no engine-only
functions, ids assigned by the store) written with ``?`` placeholders. PostgreSQL lets several
runners share one fleet's state: ``cb runner --state-db postgresql://...``; its adapter turns
``?`` into ``%s`` and takes a table lock where SQLite says BEGIN IMMEDIATE.

``SQLite.connect`` is the one place that says how ``state.db`` is opened (WAL, autocommit, busy
wait); the runner's call records, post-call outcomes and webhook outbox open it through
``sqlite_connection`` rather than their own ``sqlite3.connect``.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

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
    BUSY_TIMEOUT_MS = 5000  # a writer waits this long for another's transaction before failing

    def connect(self, state_dir: Path) -> sqlite3.Connection:
        state_dir = Path(state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(state_dir / "state.db", check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={self.BUSY_TIMEOUT_MS}")
        return conn

    #: appended to a claim's ``SELECT``: nothing for SQLite, whose writers are serialised by ``begin``
    skip_locked = ""

    def begin_write(self, conn: sqlite3.Connection) -> None:
        """Take the write lock up front, so two writers serialise instead of deadlocking."""
        conn.execute("BEGIN IMMEDIATE")

    def begin(self, conn: sqlite3.Connection) -> None:
        """A transaction for the runner's own tables (outbox, call claims): SQLite has one writer."""
        conn.execute("BEGIN IMMEDIATE")

    def is_unique_violation(self, exc: Exception) -> bool:
        return isinstance(exc, sqlite3.IntegrityError)


_REAL = re.compile(r"\bREAL\b")


class _PgConnection:
    """psycopg's connection, spoken to with the store's ``?`` placeholders. A table's ``REAL``
    column is SQLite's 8-byte float; PostgreSQL's REAL has 4 bytes (a Unix time in it is off by
    minutes), so table definitions get DOUBLE PRECISION."""

    def __init__(self, conn: Any):
        self._conn = conn

    def execute(self, sql: str, params: tuple = ()) -> Any:
        if sql.lstrip()[:12].upper() in ("CREATE TABLE", "ALTER TABLE "):
            sql = _REAL.sub("DOUBLE PRECISION", sql)
        return self._conn.execute(sql.replace("?", "%s"), params)

    def executemany(self, sql: str, rows: list[tuple]) -> None:
        with self._conn.cursor() as cur:
            cur.executemany(sql.replace("?", "%s"), rows)

    def close(self) -> None:
        self._conn.close()


class Postgres:
    name = "postgresql"

    def __init__(self, url: str):
        self.url = url

    def connect(self, state_dir: Path) -> _PgConnection:
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError("a PostgreSQL state needs psycopg: pip install 'cb[postgres]'") from exc
        return _PgConnection(psycopg.connect(self.url, autocommit=True))

    #: a claim's ``SELECT`` skips rows another runner is claiming instead of waiting for (and then
    #: also taking) them: with the claim's own ``WHERE`` repeated on the ``UPDATE``, one runner wins
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def begin_write(self, conn: _PgConnection) -> None:
        """One writer at a time across every runner sharing the database; readers are not blocked."""
        conn.execute("BEGIN")
        conn.execute("LOCK TABLE cb_meta IN EXCLUSIVE MODE")

    def begin(self, conn: _PgConnection) -> None:
        """A transaction for the runner's own tables: row locks, never the state's table lock."""
        conn.execute("BEGIN")

    def is_unique_violation(self, exc: Exception) -> bool:
        return type(exc).__name__ == "UniqueViolation"


def sqlite_connection(state_dir: str | Path) -> sqlite3.Connection:
    """A connection of its own to ``<state dir>/state.db``, opened as the state store opens it."""
    return SQLite().connect(Path(state_dir))


#: state folder -> the PostgreSQL URL its store was opened with (``open_store``), so the runner's
#: own tables (outbox, post-call outcomes) live in the same database as its state and call records
_SHARED: dict[Path, str] = {}


def remember(state_dir: str | Path, url: str | None) -> None:
    """Note which database holds the state of ``state_dir`` (called by ``open_store``)."""
    key = Path(state_dir).resolve()
    if url:
        _SHARED[key] = url
    else:
        _SHARED.pop(key, None)


def state_connection(state_dir: str | Path) -> Any:
    """A connection of its own to the database the state of ``state_dir`` lives in: the shared
    PostgreSQL one when this process opened the store with a URL, else ``<state dir>/state.db``."""
    url = _SHARED.get(Path(state_dir).resolve())
    return Postgres(url).connect(Path(state_dir)) if url else sqlite_connection(state_dir)


def dialect_of(conn: Any) -> SQLite | Postgres:
    """The dialect a connection speaks (for modules handed a connection, not a store)."""
    return Postgres("") if isinstance(conn, _PgConnection) else SQLite()


def dialect_for(url: str | None) -> SQLite | Postgres:
    if url and url.startswith(("postgresql://", "postgres://")):
        return Postgres(url)
    if url:
        raise ValueError(f"unsupported state database {url.split(':', 1)[0]!r}: use postgresql://..., "
                         "or leave it out for SQLite in the state folder")
    return SQLite()
