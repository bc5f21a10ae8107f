"""What the pages show: the filtered, paged call list and one call laid out on its time axis.

Reads only, through ``cb.runner.postcall.view`` (records, outcomes, webhook deliveries). Filters
run over the newest SCAN calls in Python: enough for one runner's day, not an analytics store.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..postcall import outcomes
from ..postcall.view import _open, duration, show_call
from ..webhooks import Outbox
from ..webhooks.outbox import connect

SCAN = 5000
PAGE = 25
SLOW_MS = 1000.0  # a turn slower than this, caller's last speech to agent's first audio, is slow
FILTERS = ("agent", "revision", "status", "end_reason", "date", "tool_errors", "slow", "refused")


def calls(state_dir: Path, args: dict[str, str], page: int = 1, size: int = PAGE) -> dict[str, Any]:
    records, conn = _open(state_dir)
    agent = args.get("agent") or None
    if agent and not agent.startswith("agent."):
        agent = "agent." + agent
    rows = []
    for r in records.list(limit=SCAN, agent=agent):
        if args.get("revision") and not r.agent_revision.startswith(args["revision"]):
            continue
        if args.get("status") and r.status != args["status"]:
            continue
        if args.get("end_reason") and r.end_reason != args["end_reason"]:
            continue
        if args.get("date") and not r.created_at.startswith(args["date"]):
            continue
        outcome = outcomes.get(conn, r.id) or {}
        tool_errors = sum(1 for t in outcome.get("tool_calls") or [] if not t.get("ok"))
        slow = sum(1 for t in r.turns if (t.get("total_ms") or 0) > SLOW_MS)
        if args.get("tool_errors") and not tool_errors:
            continue
        if args.get("slow") and not slow:
            continue
        refusals = sum(1 for d in r.compliance or [] if d.get("outcome") == "refused")
        if args.get("refused") and not refusals:
            continue
        cost = outcome.get("cost") or {}
        rows.append({"id": r.id, "created_at": r.created_at, "agent": r.agent, "revision": r.agent_revision,
                     "status": r.status, "end_reason": r.end_reason, "duration_sec": duration(r.started_at, r.ended_at),
                     "tool_errors": tool_errors, "slow_turns": slow, "turns": len(r.turns), "refusals": refusals,
                     "returns": None if not outcome else ("ok" if outcome.get("returns") is not None else "error"),
                     "cost_usd": cost.get("total_usd"), "cost_per_min_usd": cost.get("per_connected_minute_usd")})
    page = max(1, page)
    return {"calls": rows[(page - 1) * size:page * size], "total": len(rows), "page": page,
            "pages": max(1, -(-len(rows) // size)), "agents": sorted({r["agent"] for r in rows})}


def timeline(state_dir: Path, call_id: str) -> dict[str, Any] | None:
    """The call with every event placed in seconds from the start of its recording."""
    call = show_call(state_dir, call_id)
    if call is None:
        return None
    turns = [t for t in call.get("transcript") or [] if "start" in t]
    spans = tool_spans(call)
    events = status_events(call)
    length = max([call.get("duration_sec") or 0] + [t["end"] for t in turns] + [s["end"] or 0 for s in spans]) or 1
    stages = ("endpointing_ms", "stt_ms", "llm_first_token_ms", "tts_first_audio_ms")
    worst = max([sum(max(0, t.get(s) or 0) for s in stages) for t in call.get("latency") or []] + [1])
    outbox = Outbox(connect(state_dir))
    webhooks = [{**w, "attempt_log": [{**a, "when": _when(a["at"])} for a in outbox.attempts(w["id"])]}
                for w in call.get("webhooks") or []]
    return {"call": call, "turns": turns, "tools": spans, "length": length, "stages": stages, "worst_ms": worst,
            "overlaps": overlaps(turns), "barge_ins": [t for t in turns if t.get("interrupted")], "slow_ms": SLOW_MS,
            "events": events, "webhooks": webhooks,
            "has_recording": bool(call.get("recording") and Path(call["recording"]).is_file())}


def _when(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds") if epoch else "-"


def tool_spans(call: dict[str, Any]) -> list[dict[str, Any]]:
    """Each tool call from its start to its end in seconds on the recording's axis: the executor's
    offset from the call's start on the call observer's monotonic clock (``at_ms``), to the
    millisecond; a record from before that offset existed falls back to its wall-clock start."""
    started = datetime.fromisoformat(call["started_at"]).timestamp() if call.get("started_at") else None
    spans = []
    for t in call.get("tool_calls") or []:
        if t.get("at_ms") is not None:
            at = t["at_ms"] / 1000
        else:
            at = (t["started_at"] - started) if started and t.get("started_at") else None
        start = None if at is None else round(max(0.0, at), 3)
        spans.append({**t, "start": start,
                      "end": None if start is None else round(start + (t.get("latency_ms") or 0) / 1000, 3)})
    return spans


def overlaps(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Caller speech that began while the agent was speaking: a barge-in where it cut the agent's
    turn (the agent's turn is ``interrupted``), else a backchannel the agent talked over."""
    found = []
    for c in (t for t in turns if t.get("speaker") == "caller"):
        agent = next((a for a in turns if a.get("speaker") == "agent" and a["start"] <= c["start"] < a["end"]), None)
        if agent is not None:
            found.append({"kind": "barge-in" if agent.get("interrupted") else "backchannel", "at": c["start"],
                          "end": c["end"], "text": c.get("text", ""), "agent_end": agent["end"]})
    return found


def status_events(call: dict[str, Any]) -> list[dict[str, Any]]:
    """The call's states and its carrier's callbacks, each with its offset in seconds from when the
    media started (``started_at``; negative before it, e.g. initiated and ringing)."""
    started = datetime.fromisoformat(call["started_at"]).timestamp() if call.get("started_at") else None
    out = []
    for e in call.get("events") or []:
        at = datetime.fromisoformat(e["at"]).timestamp()
        detail = {k: v for k, v in e.items() if k not in ("at", "source", "status")}
        out.append({**e, "offset": None if started is None else round(at - started, 3),
                    "detail": ", ".join(f"{k} {v}" for k, v in detail.items())})
    return out
