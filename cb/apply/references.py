"""References must resolve in the state a change set would produce, not only in the files.

`cb validate` checks references within the configuration; this checks them again on the runner
against live state plus the change set, because a targeted apply (one file) or a hand-made API
call could otherwise make an agent point at a tool that is not live. Nothing reaches the call
path with a dangling reference.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from cb.config.models import BUILTIN_TOOLS


def _refs(kind: str, content: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    spec = content.get("spec") or {}
    if kind == "Agent":
        for tool in spec.get("tools") or ():
            if tool not in BUILTIN_TOOLS:
                yield "spec.tools", f"tool.{tool}"
        if isinstance(spec.get("returns"), str):
            yield "spec.returns", f"return_schema.{spec['returns']}"
        for policy in spec.get("compliance") or ():
            yield "spec.compliance", f"compliance_policy.{policy}"
    elif kind == "Number" and spec.get("agent"):
        yield "spec.agent", f"agent.{spec['agent']}"


def state_after(live: Mapping[str, Any], changes: Iterable[Any]) -> dict[str, tuple[str, Any]]:
    """address -> (kind, content) once ``changes`` are applied to ``live`` (address -> Revision):
    moves drop their old address, deletes drop theirs, the rest take the changed content."""
    after: dict[str, tuple[str, Any]] = {a: (r.kind, r.content) for a, r in live.items()}
    for c in changes:
        if c.moved_from:
            after.pop(c.moved_from, None)
        if c.action == "delete":
            after.pop(c.address, None)
        else:
            after[c.address] = (c.kind, c.content)
    return after


def dangling(live: Mapping[str, Any], changes: Iterable[Any]) -> list[str]:
    """Problems (one line each) with references in the state after ``changes``; [] when all resolve.
    ``live``: address -> Revision (``.kind``, ``.content``)."""
    after = state_after(live, changes)
    problems = []
    for address, (kind, content) in sorted(after.items()):
        for field, target in _refs(kind, content or {}):
            if target not in after:
                problems.append(f"{address}: {field} refers to {target}, which would not be live; "
                                f"apply {target} in the same change (e.g. add its file to --paths) or keep it")
    return problems
