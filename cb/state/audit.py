"""Recompute the hash chain and every content hash; name the first broken link.

Reads the database directly (not the in-memory snapshot): the point is to catch rows edited
behind the runner's back.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

from .canonical import content_hash
from .store import REV_COLUMNS, StateStore, chain_link, chain_record
import json


@dataclass(frozen=True)
class AuditResult:
    ok: bool
    checked: int
    lineage: str
    serial: int
    broken_at: int | None = None  # revision id
    address: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify(store: StateStore) -> AuditResult:
    with store.mutex:
        conn = store.connection
        meta = dict(conn.execute("SELECT key, value FROM cb_meta").fetchall())
        rows = conn.execute(f"SELECT {REV_COLUMNS} FROM cb_revisions ORDER BY id").fetchall()
        blobs = dict(conn.execute("SELECT hash, content FROM cb_blobs").fetchall())
    lineage, serial = meta.get("lineage", ""), int(meta.get("serial", 0))
    head = hashlib.sha256(lineage.encode()).hexdigest()
    cols = [c.strip() for c in REV_COLUMNS.split(",")]
    last_serial = 0
    for n, values in enumerate(rows, 1):
        row = dict(zip(cols, values))

        def broken(reason: str) -> AuditResult:
            return AuditResult(False, n, lineage, serial, row["id"], row["address"], reason)

        if row["prev_chain"] != head:
            return broken("its link to the previous revision does not match (a revision before it was "
                          "removed or inserted, or its prev_chain was edited)")
        if chain_link(head, chain_record(row)) != row["chain"]:
            return broken("its recorded fields no longer hash to its chain value (the row was edited)")
        if row["serial"] < last_serial:
            return broken("its serial goes backwards")
        if row["hash"] is not None:
            body = blobs.get(row["hash"])
            if body is None:
                return broken(f"its content {row['hash'][:12]} is missing")
            if content_hash(json.loads(body)) != row["hash"]:
                return broken(f"its content no longer hashes to {row['hash'][:12]} (the content was edited)")
        head, last_serial = row["chain"], row["serial"]
    if meta.get("head") != head:
        return AuditResult(False, len(rows), lineage, serial, None, None,
                           "the chain head recorded in cb_meta does not match the last revision "
                           "(the newest revisions were removed, or the head was edited)")
    if last_serial != serial:
        return AuditResult(False, len(rows), lineage, serial, None, None,
                           f"the state serial {serial} does not match the last revision's serial {last_serial}")
    return AuditResult(True, len(rows), lineage, serial)
