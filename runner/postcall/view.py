"""Everything known about one call, from the three tables that hold it, for `cb calls`.

The call path writes ``cb_calls`` and ``cb_call_turns`` (record, transcript, per-turn latency),
post-call work writes ``cb_call_outcomes`` (returns, tool log, media), the outbox holds the
webhook deliveries. This module only reads; it never creates a database.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from . import outcomes
from ..calls.records import open_records
from ..webhooks import Outbox
from ..webhooks.outbox import connect


class NoStateDatabase(LookupError):
    pass


def _open(state_dir: Path):
    """The call records and a connection for the outcome and outbox tables."""
    if not (Path(state_dir) / "state.db").is_file():
        raise NoStateDatabase(str(Path(state_dir) / "state.db"))
    return open_records(state_dir), connect(state_dir)


def duration(started_at: str | None, ended_at: str | None) -> float | None:
    if not started_at or not ended_at:
        return None
    return round((datetime.fromisoformat(ended_at) - datetime.fromisoformat(started_at)).total_seconds(), 1)


def list_calls(state_dir: Path, *, limit: int = 50, agent: str | None = None) -> list[dict[str, Any]]:
    records, conn = _open(state_dir)
    if agent and not agent.startswith("agent."):
        agent = "agent." + agent
    rows = []
    for r in records.list(limit=limit, agent=agent):
        outcome = outcomes.get(conn, r.id)
        rows.append({"id": r.id, "created_at": r.created_at, "agent": r.agent, "revision": r.agent_revision,
                     "status": r.status, "end_reason": r.end_reason,
                     "duration_sec": duration(r.started_at, r.ended_at),
                     "returns": None if outcome is None else ("ok" if outcome["returns"] is not None else "error"),
                     "cost_usd": ((outcome or {}).get("cost") or {}).get("total_usd"),
                     "cost_per_min_usd": ((outcome or {}).get("cost") or {}).get("per_connected_minute_usd")})
    return rows


def show_call(state_dir: Path, call_id: str) -> dict[str, Any] | None:
    records, conn = _open(state_dir)
    record = records.get(call_id)
    if record is None:
        return None
    out = asdict(record) if hasattr(record, "__dataclass_fields__") else dict(record.__dict__)
    out["duration_sec"] = duration(record.started_at, record.ended_at)
    outcome = outcomes.get(conn, call_id) or {}
    out["returns"] = outcome.get("returns")
    out["returns_error"] = outcome.get("returns_error")
    out["tool_calls"] = outcome.get("tool_calls") or []
    if outcome.get("turns"):
        out["transcript"] = outcome["turns"]  # per turn: speaker, start, end, interrupted
    out["latency"] = out.pop("turns", [])
    out["recording"] = outcome.get("recording")
    out["transcript_file"] = outcome.get("transcript")
    out["cost"] = outcome.get("cost")
    out["webhooks"] = [row.summary() for row in Outbox(conn).list(call_id=call_id)]
    return out
