"""A plan: the change set, the state it was made against, and enough to show and apply it.

A saved plan carries the full content it will apply (never re-read from files at apply time), so
what a reviewer saw is exactly what lands; and it carries the state lineage and serial it saw, so
it refuses to apply once either moved, including a plan made against empty state.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

FORMAT_VERSION = "1.0"
PLAN_KIND = "cb-plan"


@dataclass
class FieldChange:
    path: str
    before: Any = None
    after: Any = None
    diff: str | None = None  # unified diff, for prompts and other multi-line text


@dataclass
class ResourceChange:
    address: str
    kind: str
    name: str
    actions: list[str]  # ["create"] ["update"] ["delete"] ["move"] ["move", "update"] ["no-op"]
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    before_hash: str | None = None
    after_hash: str | None = None
    moved_from: str | None = None
    fields: list[FieldChange] = field(default_factory=list)
    drift: dict[str, Any] | None = None  # who changed the live revision outside git, and how
    skipped: str | None = None  # why a change is held back (drift without --overwrite-drift)

    @property
    def is_change(self) -> bool:
        return self.actions != ["no-op"] and not self.skipped


@dataclass
class Plan:
    lineage: str
    serial: int
    created_at: str
    project: str
    runner: str
    changes: list[ResourceChange] = field(default_factory=list)
    overwrite_drift: bool = False
    cause: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    targeted: bool = False  # made from some files only: resources outside them are left alone
    format_version: str = FORMAT_VERSION

    @property
    def pending(self) -> list[ResourceChange]:
        return [c for c in self.changes if c.is_change]

    @property
    def drifted(self) -> list[ResourceChange]:
        return [c for c in self.changes if c.drift]

    @property
    def has_changes(self) -> bool:
        return bool(self.pending)

    def counts(self) -> dict[str, int]:
        out = {"create": 0, "update": 0, "delete": 0, "move": 0, "no-op": 0, "drift": 0}
        for c in self.changes:
            if c.skipped:
                out["drift"] += 1
                continue
            for a in c.actions:
                out[a] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"kind": PLAN_KIND, **asdict(self)}

    def dumps(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def loads(cls, text: str) -> "Plan":
        data = json.loads(text)
        if data.pop("kind", None) != PLAN_KIND:
            raise ValueError("not a cb plan file (write one with `cb plan --out FILE`)")
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"plan format {data.get('format_version')!r} is not {FORMAT_VERSION!r}; plan again with this cb")
        changes = []
        for c in data.pop("changes"):
            c["fields"] = [FieldChange(**f) for f in c.get("fields", [])]
            changes.append(ResourceChange(**c))
        return cls(changes=changes, **data)
