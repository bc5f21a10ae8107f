"""`cb calls show` as text a person reads top to bottom: who, what was said, what ran, what came out."""

from __future__ import annotations

import json
from typing import Any


def _ms(v: Any) -> str:
    return "-" if v is None else f"{v:.0f}"


def render(call: dict[str, Any]) -> str:
    lines = [
        f"call {call['id']}  {call['status']}" + (f" ({call['end_reason']})" if call.get("end_reason") else ""),
        f"  agent     {call['agent']} @ {call['agent_revision'][:12]} (state serial {call['state_serial']})",
        f"  line      {call['direction']} {call.get('from_number') or '?'} -> {call.get('to_number') or '?'}",
        f"  time      {call.get('started_at') or call['created_at']}  ({call['duration_sec'] or 0:g} s)",
    ]
    if call.get("error"):
        lines.append(f"  error     {call['error']}")
    if call.get("recording"):
        lines.append(f"  recording {call['recording']}")
    if call.get("compliance"):
        lines += ["", "compliance (every rule judged, in order)"]
        for d in call["compliance"]:
            until = f" until {d['until']}" if d.get("until") else ""
            lines.append(f"  {d['rule']:<20} {d['outcome']:<8} {d['policy']:<18} {d['detail']}{until}")
    lines += ["", "transcript"]
    for t in call.get("transcript") or []:
        who = t.get("speaker") or t.get("role")
        when = f"{t['start']:7.2f}-{t['end']:.2f}s" if "start" in t else f"{t.get('at_ms', 0) / 1000:7.2f}s"
        cut = "  [interrupted]" if t.get("interrupted") else ""
        lines.append(f"  {when}  {who:<6} {t.get('text', '')}{cut}")
    if not call.get("transcript"):
        lines.append("  (nothing was said)")
    lines += ["", "tool calls"]
    for c in call.get("tool_calls") or []:
        mark = "ok" if c.get("ok") else c.get("status", "failed")
        extra = f"  {c['error']}" if c.get("error") else ""
        lines.append(f"  {c['name']}  {mark}  {_ms(c.get('latency_ms'))} ms  {json.dumps(c.get('arguments', {}))}{extra}")
    if not call.get("tool_calls"):
        lines.append("  (none)")
    lines += ["", "returns"]
    if call.get("returns") is not None:
        lines += ["  " + ln for ln in json.dumps(call["returns"], indent=2).splitlines()]
    else:
        lines.append(f"  null: {call.get('returns_error') or 'not extracted (no return schema, or still running)'}")
    if call.get("latency"):
        lines += ["", "latency per turn (ms)   endpointing    stt    llm    tts  total"]
        for t in call["latency"]:
            lines.append(f"  turn {t['turn']:<17} {_ms(t.get('endpointing_ms')):>11} {_ms(t.get('stt_ms')):>6} "
                         f"{_ms(t.get('llm_first_token_ms')):>6} {_ms(t.get('tts_first_audio_ms')):>6} {_ms(t.get('total_ms')):>6}")
    if call.get("webhooks"):
        lines += ["", "webhooks"]
        for w in call["webhooks"]:
            lines.append(f"  {w['id']}  {w['status']}  {w['attempts']}/{w['max_attempts']} attempts  {w['url']}"
                         + (f"  {w['last_error']}" if w.get("last_error") else ""))
    return "\n".join(lines)
