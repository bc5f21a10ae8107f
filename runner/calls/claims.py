"""Calls claimed through the database, and runners that vouch for theirs by a heartbeat.

Several runners (or worker processes) share one database: the PostgreSQL of ``--state-db``, or
one ``state.db``. Whichever answers a call's voice webhook may not be the one its media stream
reaches (a load balancer sends each connection where it likes), so the admitted call is written
here (``offer``) with what is needed to plan it again, and the stream's runner takes it with one
conditional ``UPDATE`` (``claim``): exactly one runner gets a call, never two, never none while
it is pending. A runner that ends a pending call itself (expired, refused, released) takes it the
same way (``withdraw``), so it cannot end a call another runner just took.

Each runner writes ``cb_runners.seen_at`` every ``HEARTBEAT_SECS`` from a thread of its own (a
busy event loop is not a dead process). A call not yet finished whose runner has not been seen
for ``LAPSE_SECS`` (killed, host gone) is ended by any other runner (``orphans`` then ``end``,
which only one runner wins) as failed, ``runner_lost``, and its webhook owed: no record is left
in progress forever and no webhook is lost. Times are Unix seconds of each runner's clock: keep
the fleet's clocks in sync (NTP) to well under ``LAPSE_SECS``.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from .records import FINAL

log = logging.getLogger("cb.runner.calls")

HEARTBEAT_SECS = 1.0
LAPSE_SECS = 5.0  # a runner not seen for this long has lost its calls

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS cb_runners (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started_at REAL NOT NULL,
        seen_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS cb_call_claims (
        call_id TEXT PRIMARY KEY,
        provider_call_id TEXT,
        plan TEXT NOT NULL,
        admitted_by TEXT NOT NULL,
        expires_at REAL NOT NULL,
        claimed_by TEXT,
        claimed_at REAL,
        ended_by TEXT)""",
    "CREATE INDEX IF NOT EXISTS cb_call_claims_expires ON cb_call_claims (expires_at)",
]
KEEP_SECS = 3600.0  # a finished call's claim is kept this long after its stream could have come
_FINAL = ", ".join(f"'{s}'" for s in FINAL)


def runner_id() -> str:
    return f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"


class CallClaims:
    """The claim and heartbeat tables behind the store's connection (autocommit; each claim is
    one statement, atomic on SQLite and PostgreSQL alike) guarded by its mutex."""

    def __init__(self, conn: Any, mutex: Any, me: str | None = None):
        self._conn, self._mutex = conn, mutex
        self.me = me or runner_id()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        with self._mutex:
            for statement in SCHEMA:
                self._conn.execute(statement)

    @classmethod
    def for_store(cls, store: Any) -> "CallClaims":
        return cls(store.connection, store.mutex)

    def _run(self, sql: str, params: tuple = ()) -> Any:
        with self._mutex:
            return self._conn.execute(sql, params)

    # ---------------------------------------------------------------- heartbeat
    def beat(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        if self._run("UPDATE cb_runners SET seen_at = ? WHERE id = ?", (now, self.me)).rowcount == 0:
            host, pid = self.me.split("/")[:2]
            self._run("INSERT INTO cb_runners (id, host, pid, started_at, seen_at) VALUES (?, ?, ?, ?, ?)",
                      (self.me, host, int(pid), now, now))

    def start(self) -> None:
        """Beat now and then every HEARTBEAT_SECS from a thread, until ``stop``."""
        self.beat()

        def loop() -> None:
            while not self._stop.wait(HEARTBEAT_SECS):
                try:
                    self.beat()
                except Exception:  # noqa: BLE001 - a database blip: beat again next time
                    log.exception("runner heartbeat failed")

        self._thread = threading.Thread(target=loop, name="cb-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """A runner that shuts down cleanly has ended its calls: it leaves the fleet at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self._run("DELETE FROM cb_runners WHERE id = ?", (self.me,))
        except Exception:  # noqa: BLE001 - the database went first; the heartbeat lapses instead
            log.warning("could not leave the fleet's runner list; the heartbeat will lapse")

    # ---------------------------------------------------------------- pending calls
    def offer(self, call_id: str, provider_call_id: str | None, inputs: dict[str, Any], ttl_secs: float) -> None:
        """An admitted call any runner may now take (``inputs``: what plans it again, JSON)."""
        self._run("INSERT INTO cb_call_claims (call_id, provider_call_id, plan, admitted_by, expires_at) "
                  "VALUES (?, ?, ?, ?, ?)", (call_id, provider_call_id, json.dumps(inputs), self.me,
                                             time.time() + ttl_secs))

    def claim(self, call_id: str, call_sid: str | None) -> dict[str, Any] | str | None:
        """Take the pending call for this runner: its inputs, or why not (a sentence: expired,
        already taken, or ``mismatch``: the stream's callSid is not the CallSid that admitted it).
        None when the call was never offered (unknown, or an outbound call its runner keeps)."""
        now = time.time()
        taken = self._run("UPDATE cb_call_claims SET claimed_by = ?, claimed_at = ? WHERE call_id = ? "
                          "AND claimed_by IS NULL AND expires_at > ? AND COALESCE(provider_call_id, '') = ?",
                          (self.me, now, call_id, now, call_sid or "")).rowcount == 1
        with self._mutex:
            row = self._conn.execute("SELECT plan, provider_call_id, claimed_by, expires_at FROM cb_call_claims "
                                     "WHERE call_id = ?", (call_id,)).fetchone()
        if taken:
            return json.loads(row[0])
        if row is None:
            return None
        if row[2] is not None:
            return "unknown or expired call (already taken by a stream)"
        if row[3] <= now:
            return "unknown or expired call"
        return "mismatch"

    def withdraw(self, call_id: str) -> bool:
        """Take a pending call in order to end it here (expired, released, refused); False when
        another runner's stream took it first. True for a call never offered: it is this runner's."""
        if self._run("UPDATE cb_call_claims SET claimed_by = ?, claimed_at = ? WHERE call_id = ? "
                     "AND claimed_by IS NULL", (self.me, time.time(), call_id)).rowcount == 1:
            return True
        with self._mutex:
            return self._conn.execute("SELECT 1 FROM cb_call_claims WHERE call_id = ?", (call_id,)).fetchone() is None

    def taken_elsewhere(self, call_ids: list[str]) -> list[str]:
        """Which of this runner's pending calls another runner's stream took (free their places)."""
        if not call_ids:
            return []
        marks = ", ".join("?" for _ in call_ids)
        with self._mutex:
            rows = self._conn.execute(f"SELECT call_id FROM cb_call_claims WHERE call_id IN ({marks}) "
                                      "AND claimed_by IS NOT NULL AND claimed_by <> ?", (*call_ids, self.me)).fetchall()
        return [r[0] for r in rows]

    # ---------------------------------------------------------------- lost runners
    def orphans(self, lapse_secs: float = LAPSE_SECS) -> list[tuple[str, dict[str, Any], str]]:
        """(call id, inputs, reason) of unfinished calls whose runner is gone: one that held the
        call's stream (``runner_lost``), or admitted it and is gone past its expiry (``no_media_stream``)."""
        now = time.time()
        with self._mutex:
            rows = self._conn.execute(
                "SELECT c.call_id, c.plan, c.claimed_by FROM cb_call_claims c "
                "JOIN cb_calls k ON k.id = c.call_id "
                "LEFT JOIN cb_runners r ON r.id = COALESCE(c.claimed_by, c.admitted_by) "
                f"WHERE c.ended_by IS NULL AND k.status NOT IN ({_FINAL}) "
                "AND COALESCE(c.claimed_by, c.admitted_by) <> ? AND (r.seen_at IS NULL OR r.seen_at < ?) "
                "AND (c.claimed_by IS NOT NULL OR c.expires_at < ?)", (self.me, now - lapse_secs, now)).fetchall()
        return [(r[0], json.loads(r[1]), "runner_lost" if r[2] else "no_media_stream") for r in rows]

    def prune(self, keep_secs: float = KEEP_SECS) -> int:
        """Forget the claims of finished calls (the record keeps the call), so the lost-call query
        reads only recent rows however many calls the fleet has taken."""
        return self._run(f"DELETE FROM cb_call_claims WHERE expires_at < ? AND call_id IN "
                         f"(SELECT id FROM cb_calls WHERE status IN ({_FINAL}))", (time.time() - keep_secs,)).rowcount

    def end(self, call_id: str) -> bool:
        """Take a lost runner's call to end it; only one runner of the fleet gets True."""
        return self._run("UPDATE cb_call_claims SET ended_by = ? WHERE call_id = ? AND ended_by IS NULL",
                         (self.me, call_id)).rowcount == 1
