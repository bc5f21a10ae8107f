"""The plan as versioned JSON for machines: ``format_version`` and ``resource_changes[]``."""

from __future__ import annotations

import json
from typing import Any

from cb.contracts.plan_document import Plan

from .redact import redact


def plan_json(plan: Plan) -> dict[str, Any]:
    changes = []
    for c in plan.changes:
        entry: dict[str, Any] = {
            "address": c.address, "kind": c.kind, "name": c.name, "actions": list(c.actions),
            "before": redact(c.before), "after": redact(c.after),
            "before_hash": c.before_hash, "after_hash": c.after_hash,
        }
        if c.moved_from:
            entry["moved_from"] = c.moved_from
        if c.fields:
            entry["fields"] = [{"path": f.path, **({"diff": f.diff} if f.diff else {})} for f in c.fields]
        if c.drift:
            entry["drift"] = redact(c.drift)
        if c.skipped:
            entry["skipped"] = c.skipped
        if c.note:
            entry["note"] = c.note
        changes.append(entry)
    return {"format_version": plan.format_version, "lineage": plan.lineage, "serial": plan.serial,
            "created_at": plan.created_at, "project": plan.project, "runner": plan.runner,
            "has_changes": plan.has_changes, "targeted": plan.targeted, "summary": plan.action_counts(),
            "drift": [{"address": c.address, "held_back": bool(c.skipped), **redact(c.drift)} for c in plan.drifted],
            "cause": plan.cause,
            "errors": plan.errors, "resource_changes": changes}


def render_json(plan: Plan) -> str:
    return json.dumps(plan_json(plan), indent=2, sort_keys=True, ensure_ascii=False)
