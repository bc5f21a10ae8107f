"""The compliance audit: every decision in a date range, one row each, for ``cb calls export
--compliance`` (``GET /v1/compliance/decisions``).

Outbound calls are read from the dial queue: each entry keeps the decisions of its last
judgement (refused, dialled, still waiting or canceled), with its queue id and, once it became a
call, the call id; ``when`` is that judgement's time. Inbound calls have no queue entry: their
decisions (attestation, recording disclosure) are read from the call record, ``when`` being when
the call came in. A row: call_id, queue_id, number (the other party), agent, rule, policy,
outcome, detail, until, when (UTC, ISO 8601).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from .queue import QUEUE

FIELDS = ("when", "call_id", "queue_id", "number", "agent", "rule", "policy", "outcome", "detail", "until")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds")


def decisions(conn: Any, mutex: Any, since: float, until: float) -> list[dict[str, Any]]:
    """Rows judged in [since, until), oldest first."""
    with mutex:
        queued = conn.execute(f"SELECT id, call_id, to_number, agent, decisions, updated_at FROM {QUEUE}"
                              " WHERE updated_at >= ? AND updated_at < ? ORDER BY updated_at, id",
                              (since, until)).fetchall()
        inbound = conn.execute("SELECT id, from_number, agent, compliance, created_at FROM cb_calls"
                               " WHERE direction = 'inbound' AND compliance IS NOT NULL AND created_at >= ?"
                               " AND created_at < ? ORDER BY created_at, id",
                               (_iso(since).replace("+00:00", ""), _iso(until).replace("+00:00", ""))).fetchall()
    rows: list[tuple[str, dict[str, Any]]] = []
    for qid, call_id, number, agent, judged, at in queued:
        for d in json.loads(judged or "[]"):
            rows.append((_iso(at), {"call_id": call_id, "queue_id": qid, "number": number, "agent": agent, **d}))
    for call_id, number, agent, judged, created in inbound:
        when = datetime.fromisoformat(created).astimezone(timezone.utc).isoformat(timespec="seconds")
        for d in json.loads(judged or "[]"):
            rows.append((when, {"call_id": call_id, "queue_id": None, "number": number, "agent": agent, **d}))
    rows.sort(key=lambda r: r[0])
    return [{k: ({**d, "when": when}).get(k) for k in FIELDS} for when, d in rows]


class BadRange(ValueError):
    pass


def bound(text: str | None, end: bool) -> float | None:
    """A date (``2026-01-12``: its start, or with ``end`` the end of that day, in UTC) or an ISO
    8601 instant (UTC when it names no offset) as a timestamp; None for no bound."""
    if not text:
        return None
    try:
        if len(text) == 10:
            day = datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
            return day.timestamp() + (86400 if end else 0)
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRange(f"{text!r} is not a date (2026-01-12) or an ISO 8601 time (2026-01-12T09:00:00Z)") from None
    return (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).timestamp()
