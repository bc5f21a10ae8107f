"""The audit: recompute the history's chain, every content hash and what is live; name the first
broken link. Checkpoints: a signed (lineage, serial, revision, chain) to keep outside the runner.

Reads the database directly (not the in-memory snapshot): the point is to catch rows edited
behind the runner's back. What it proves, and what it does not, is in docs/control-plane.md
("What the audit proves"):
- with the audit key, a row edited, inserted or removed, content edited, or ``cb_live`` pointing
  anywhere but where the chain's replay says, is named; recomputing the links needs the key;
- someone holding both the database and the key can rewrite history and recompute it: a checkpoint
  kept elsewhere (a CI log, git) bounds that, since ``verify(against=...)`` requires the chain at
  the checkpoint's revision to be exactly the one the checkpoint recorded.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from .auditkey import SCHEME, key_id
from .canonical import canonical_json, content_hash
from .errors import StateError
from .store import REV_COLUMNS, StateStore, chain_link, chain_record, now

CHECKPOINT_FORMAT = "cb-audit-checkpoint/1"


@dataclass(frozen=True)
class AuditResult:
    ok: bool
    checked: int
    lineage: str
    serial: int
    broken_at: int | None = None  # revision id
    address: str | None = None
    reason: str | None = None
    keyed: bool = False  # the chain is an HMAC under the audit key (else plain sha256)
    key_id: str | None = None
    against: dict[str, Any] | None = field(default=None)  # the checkpoint verified against, if any

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Tables:
    meta: dict[str, str]
    rows: list[dict[str, Any]]
    blobs: dict[str, str]
    live: dict[str, int]


def read_tables(conn: Any) -> Tables:
    cols = [c.strip() for c in REV_COLUMNS.split(",")]
    meta = dict(conn.execute("SELECT key, value FROM cb_meta").fetchall())
    rows = [dict(zip(cols, v)) for v in conn.execute(f"SELECT {REV_COLUMNS} FROM cb_revisions ORDER BY id").fetchall()]
    blobs = dict(conn.execute("SELECT hash, content FROM cb_blobs").fetchall())
    live = dict(conn.execute("SELECT address, revision_id FROM cb_live").fetchall())
    return Tables(meta, rows, blobs, live)


def walk(t: Tables, key: bytes | None) -> AuditResult:
    """Check the chain of ``t`` with ``key`` (None: plain sha256), the content and the live pointers."""
    lineage, serial = t.meta.get("lineage", ""), int(t.meta.get("serial", 0))
    keyed = key is not None
    kid = key_id(key) if keyed else None
    head = hashlib.sha256(lineage.encode()).hexdigest()
    last_serial = 0
    live: dict[str, int] = {}
    for n, row in enumerate(t.rows, 1):
        def broken(reason: str) -> AuditResult:
            return AuditResult(False, n, lineage, serial, row["id"], row["address"], reason, keyed, kid)

        if row["prev_chain"] != head:
            return broken("its link to the previous revision does not match (a revision before it was "
                          "removed or inserted, or its prev_chain was edited)")
        if chain_link(head, chain_record(row), key) != row["chain"]:
            return broken("its recorded fields no longer hash to its chain value (the row was edited"
                          + (", or the chain was recomputed without the audit key)" if keyed else ")"))
        if row["serial"] < last_serial:
            return broken("its serial goes backwards")
        if row["hash"] is not None:
            body = t.blobs.get(row["hash"])
            if body is None:
                return broken(f"its content {row['hash'][:12]} is missing")
            if content_hash(json.loads(body)) != row["hash"]:
                return broken(f"its content no longer hashes to {row['hash'][:12]} (the content was edited)")
        if row["moved_from"]:
            live.pop(row["moved_from"], None)
        if row["action"] == "delete":
            live.pop(row["address"], None)
        else:
            live[row["address"]] = row["id"]
        head, last_serial = row["chain"], row["serial"]
    checked = len(t.rows)
    if t.meta.get("head") != head:
        return AuditResult(False, checked, lineage, serial, None, None,
                           "the chain head recorded in cb_meta does not match the last revision "
                           "(the newest revisions were removed, or the head was edited)", keyed, kid)
    if last_serial != serial:
        return AuditResult(False, checked, lineage, serial, None, None,
                           f"the state serial {serial} does not match the last revision's serial {last_serial}",
                           keyed, kid)
    for address in sorted(set(live) | set(t.live)):
        chained, pointed = live.get(address), t.live.get(address)
        if chained != pointed:
            said = f"r{chained}" if chained else "nothing (not live)"
            points = f"points {address} at r{pointed}" if pointed else f"has no live revision of {address}"
            return AuditResult(False, checked, lineage, serial, pointed or chained, address,
                               f"the live pointer (cb_live) {points}, but the chain says {said} is live: what "
                               "serves was changed outside cb", keyed, kid)
    return AuditResult(True, checked, lineage, serial, keyed=keyed, key_id=kid)


def _tables(store: StateStore) -> Tables:
    with store.mutex:
        return read_tables(store.connection)


def verify(store: StateStore, against: dict[str, Any] | None = None) -> AuditResult:
    """The whole audit of ``store``; with ``against`` (a checkpoint), also that history up to it is unchanged."""
    t = _tables(store)
    lineage, serial = t.meta.get("lineage", ""), int(t.meta.get("serial", 0))
    keyed = t.meta.get("chain") == SCHEME
    if keyed and store.key is None:
        return AuditResult(False, 0, lineage, serial, None, None,
                           f"the chain is keyed with audit key {t.meta.get('key_id')}: verify it with that key "
                           "(--audit-key FILE)", True, t.meta.get("key_id"))
    if keyed and key_id(store.key) != t.meta.get("key_id"):
        return AuditResult(False, 0, lineage, serial, None, None,
                           f"the chain is keyed with audit key {t.meta.get('key_id')}, not with the key given "
                           f"({key_id(store.key)})", True, t.meta.get("key_id"))
    result = walk(t, store.key if keyed else None)
    if not result.ok or against is None:
        return result
    problem = _against(t, store.key if keyed else None, against)
    if problem:
        return AuditResult(False, result.checked, lineage, serial, against.get("revision") or None, None, problem,
                           result.keyed, result.key_id, against)
    return AuditResult(True, result.checked, lineage, serial, keyed=result.keyed, key_id=result.key_id, against=against)


def _signature(key: bytes | None, body: dict[str, Any]) -> str:
    data = canonical_json({k: v for k, v in body.items() if k != "signature"}).encode("utf-8")
    if key is None:
        return "sha256:" + hashlib.sha256(data).hexdigest()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def checkpoint(store: StateStore) -> dict[str, Any]:
    """The chain's head now, signed with the audit key: print it where the runner cannot rewrite it."""
    t = _tables(store)
    lineage = t.meta.get("lineage", "")
    last = t.rows[-1] if t.rows else None
    keyed = t.meta.get("chain") == SCHEME
    if keyed and store.key is None:
        raise StateError(f"the chain is keyed with audit key {t.meta.get('key_id')}: a checkpoint is signed with "
                         "that key (--audit-key FILE)")
    body = {"format": CHECKPOINT_FORMAT, "lineage": lineage, "serial": int(t.meta.get("serial", 0)),
            "revision": last["id"] if last else 0,
            "chain": last["chain"] if last else hashlib.sha256(lineage.encode()).hexdigest(),
            "key_id": t.meta.get("key_id") if keyed else None, "at": now()}
    body["signature"] = _signature(store.key if keyed else None, body)
    return body


def _against(t: Tables, key: bytes | None, cp: dict[str, Any]) -> str | None:
    """Why history up to checkpoint ``cp`` is not what it recorded, or None when it is."""
    if not isinstance(cp, dict) or cp.get("format") != CHECKPOINT_FORMAT:
        return f"not a checkpoint (expected format {CHECKPOINT_FORMAT!r}, from `cb audit checkpoint`)"
    if cp.get("key_id") != (key_id(key) if key else None):
        return (f"the checkpoint was signed with audit key {cp.get('key_id')}, but this chain is keyed with "
                f"{key_id(key) if key else 'no key'}")
    if not hmac.compare_digest(str(cp.get("signature", "")), _signature(key, cp)):
        return "the checkpoint's signature does not match: it was edited, or not made by this runner"
    lineage = t.meta.get("lineage", "")
    if cp.get("lineage") != lineage:
        return f"the checkpoint is of lineage {cp.get('lineage')}, not of this state ({lineage})"
    revision = cp.get("revision")
    if revision == 0:
        chain = hashlib.sha256(lineage.encode()).hexdigest()
    else:
        rows = [r for r in t.rows if r["id"] == revision]
        if not rows:
            return f"revision r{revision}, the last one the checkpoint covers, is gone from history"
        if rows[0]["serial"] != cp.get("serial"):
            return f"revision r{revision} now has serial {rows[0]['serial']}, the checkpoint recorded {cp.get('serial')}"
        chain = rows[0]["chain"]
    if chain != cp.get("chain"):
        return (f"history up to r{revision} (serial {cp.get('serial')}) is not what the checkpoint of {cp.get('at')} "
                "recorded: it was rewritten since (and the chain recomputed, so whoever did it held the audit key)")
    return None
