"""Judge a scenario's assertions against what a run produced; each verdict says what was seen.

Matching rules: ``arguments``/``includes`` are subsets (every given key equal, nested mappings
compared the same way); ``equals`` is the whole object; schemas are JSON Schema draft 2020-12;
``says``/``never_says`` compare case-insensitively against everything the agent said (greeting,
filler and failure phrases included: the caller hears those too). ``latency`` reads the call
record's per-turn ``total_ms`` (audio mode); ``judge`` is the LLM judge's verdict, made by the
runner (``cb.runner.testing.judge``) before the assertions are read.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from cb.config.scenarios import Assertion

from .outcome import Check, Run


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def includes(actual: Any, expected: Any) -> bool:
    """``expected``'s keys all hold in ``actual`` (recursively for mappings); otherwise equality."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and includes(actual[k], v) for k, v in expected.items())
    return actual == expected


def _schema_problems(schema: dict[str, Any], value: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in validator.iter_errors(value)]


def _agent_text(run: Run) -> str:
    return "\n".join(t["text"] for t in run.transcript if t.get("speaker") == "agent")


def _tool_called(a: Assertion, run: Run) -> Check:
    want = a.tool_called
    assert want is not None
    parts = [f"calls {want.name}"]
    if want.arguments is not None:
        parts.append(f"with {_short(want.arguments)}")
    if want.arguments_schema is not None:
        parts.append("with arguments matching the schema")
    if want.ok is not None:
        parts.append("successfully" if want.ok else "and it fails")
    what = " ".join(parts)
    calls = [c for c in run.tool_calls if c["name"] == want.name]
    if not calls:
        seen = ", ".join(c["name"] for c in run.tool_calls) or "no tool"
        return Check(what, False, f"{want.name} was never called (called: {seen})")
    misses = []
    for c in calls:
        args = c.get("arguments") or {}
        why = []
        if want.arguments is not None and not includes(args, want.arguments):
            why.append(f"arguments {_short(args)}")
        if want.arguments_schema is not None:
            why += _schema_problems(want.arguments_schema, args)
        if want.ok is not None and bool(c.get("ok")) != want.ok:
            why.append(f"status {c.get('status')}" + (f" ({c['error']})" if c.get("error") else ""))
        if not why:
            return Check(what, True, f"called with {_short(args)}: {c.get('status')}")
        misses.append("; ".join(why))
    return Check(what, False, f"{len(calls)} call(s), none matched: " + " | ".join(misses))


def _returns(a: Assertion, run: Run) -> Check:
    want = a.returns
    assert want is not None
    what = "returns " + " and ".join(
        [f"equal {_short(want.equals)}"] * (want.equals is not None)
        + [f"include {_short(want.includes)}"] * (want.includes is not None)
        + ["match the schema"] * (want.schema_ is not None))
    got = run.returns
    if got is None:
        return Check(what, False, f"no returns: {run.returns_error or 'none were extracted'}")
    why = []
    if want.equals is not None and got != want.equals:
        why.append(f"got {_short(got)}")
    if want.includes is not None and not includes(got, want.includes):
        why.append(f"got {_short(got)}")
    if want.schema_ is not None:
        why += _schema_problems(want.schema_, got)
    return Check(what, not why, "; ".join(dict.fromkeys(why)) or _short(got))


def judge(a: Assertion, run: Run, index: int = -1) -> Check:
    key = a.key
    if key == "tool_called":
        return _tool_called(a, run)
    if key == "tool_not_called":
        calls = [c for c in run.tool_calls if c["name"] == a.tool_not_called]
        return Check(f"never calls {a.tool_not_called}", not calls,
                     f"called {len(calls)} time(s), first with {_short(calls[0].get('arguments'))}" if calls else "not called")
    if key == "returns":
        return _returns(a, run)
    said = _agent_text(run)
    if key == "says":
        found = (a.says or "").lower() in said.lower()
        return Check(f"says {a.says!r}", found, "said" if found else f"the agent said: {_short(said, 240)}")
    if key == "never_says":
        found = (a.never_says or "").lower() in said.lower()
        line = next((t["text"] for t in run.transcript if t.get("speaker") == "agent"
                     and (a.never_says or "").lower() in t["text"].lower()), "")
        return Check(f"never says {a.never_says!r}", not found, f"said: {line!r}" if found else "never said")
    if key == "ended_call":
        return Check("ends the call" if a.ended_call else "does not end the call", run.ended_call == a.ended_call,
                     "the agent used end_call" if run.ended_call else "the agent did not use end_call")
    if key == "latency":
        budget = a.latency.max_ms if a.latency else 0
        what = f"every turn within {budget} ms"
        if run.latencies_ms is None:
            return Check(what, False, "no per-turn latency: it is measured on audio calls only (cb test --audio)")
        over = [f"turn {i}: {ms:.0f} ms" for i, ms in enumerate(run.latencies_ms, 1) if ms > budget]
        if not run.latencies_ms:
            return Check(what, False, "the call record holds no measured turn")
        return Check(what, not over, "; ".join(over) if over else f"slowest {max(run.latencies_ms):.0f} ms")
    if key == "judge":
        return run.verdicts.get(index) or Check(f"judged: {a.judge.rubric if a.judge else ''}", False,
                                                "the judge gave no verdict")
    if key == "max_turns":
        return Check(f"at most {a.max_turns} turns", run.turns <= (a.max_turns or 0), f"{run.turns} turn(s)")
    raise AssertionError(f"unknown assertion {key}")  # pragma: no cover - the model allows no other


def judge_all(expect: list[Assertion], run: Run) -> list[Check]:
    return [judge(a, run, i) for i, a in enumerate(expect)]
