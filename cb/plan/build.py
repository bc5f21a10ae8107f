"""From a loaded Project to the plan engine's inputs, and from a plan back to a change set."""

from __future__ import annotations

from typing import Any

from cb.state.canonical import content_hash
from cb.state.store import Change

from .model import ResourceChange


def desired_from_project(project: Any) -> dict[str, tuple[str, str, dict[str, Any], str]]:
    """address -> (kind, name, canonical content, content hash), computed once per loaded project."""
    cached = getattr(project, "_cb_desired", None)
    if cached is not None:
        return cached
    out = {}
    for address, resource in project.resources.items():
        content = resource.canonical()
        out[address] = (resource.kind, resource.name, content, content_hash(content))
    project._cb_desired = out  # a loaded Project is not changed afterwards; dumping 2,500 models twice costs ~0.2 s
    return out


def action_of(change: ResourceChange) -> str:
    return "move" if "move" in change.actions else change.actions[0]


def to_changes(changes: list[ResourceChange]) -> list[Change]:
    """The change set to apply: everything pending (no-ops and held-back drift excluded)."""
    return [Change(c.address, c.kind, c.name, action_of(c), c.after, c.moved_from) for c in changes if c.is_change]


def to_wire(changes: list[Change]) -> list[dict[str, Any]]:
    return [{"address": c.address, "kind": c.kind, "name": c.name, "action": c.action, "content": c.content,
             "moved_from": c.moved_from} for c in changes]
