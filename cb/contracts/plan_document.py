"""The plan document, in its two published encodings, and the JSON Schema of the second.

1. The saved plan file (``cb plan --out FILE``; ``Plan.dumps`` / ``Plan.loads``, ``kind: cb-plan``):
   produced by the planner (cb.plan.planner), consumed by `cb apply FILE`. It carries the full
   content it will apply (never re-read from files at apply time), so what a reviewer saw is
   exactly what lands; and it carries the state lineage, serial and fingerprint it saw, so it
   refuses to apply once any moved (or was edited), including a plan made against empty state.
   The runner checks each change's content against its ``after_hash`` and re-validates it
   (cb.apply.integrity) before it commits anything.
2. ``cb plan --format json`` (``PlanDocument``, published as ``schemas/plan.json``): produced by
   cb.plan.render_json from a ``Plan``, consumed by tools that read plans (CI, PR bots). Checked
   against the renderer's output in tests, so the schema cannot drift from what cb prints.

``format_version`` changes when a field of either changes meaning or goes away.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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
    note: str | None = None  # why it changes when that is not the configuration (the runner's URL moved)
    adopt: bool = False  # git now matches a live revision made outside git: apply records it as git's

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
    fingerprint: str | None = None  # sha256 of the live snapshot the plan was made against (cb.apply.integrity)
    format_version: str = FORMAT_VERSION

    @property
    def pending(self) -> list[ResourceChange]:
        return [c for c in self.changes if c.is_change]

    @property
    def drifted(self) -> list[ResourceChange]:
        return [c for c in self.changes if c.drift]

    @property
    def held_back(self) -> list[ResourceChange]:
        """Changes git asks for that are not applied: the live revision drifted (no --overwrite-drift)."""
        return [c for c in self.changes if c.skipped]

    def hashes(self) -> dict[str, str | None]:
        """address -> the content hash each pending change must have when the runner commits it."""
        return {c.address: c.after_hash for c in self.changes if c.is_change or c.adopt}

    @property
    def has_changes(self) -> bool:
        return bool(self.pending)

    def counts(self) -> dict[str, int]:
        """Per action, the changes that will be applied; ``drift``: the changes held back by drift
        (their actions stay what --overwrite-drift would do, and are not counted under them)."""
        out = {"create": 0, "update": 0, "delete": 0, "move": 0, "no-op": 0, "drift": 0}
        for c in self.changes:
            if c.skipped:
                out["drift"] += 1
                continue
            for a in c.actions:
                out[a] += 1
        return out

    def action_counts(self) -> dict[str, int]:
        """Per action, every change that has it (held back or not), so it agrees with ``actions``;
        ``drift``: how many of them are held back by drift."""
        out = {"create": 0, "update": 0, "delete": 0, "move": 0, "no-op": 0, "drift": len(self.held_back)}
        for c in self.changes:
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


# ---------------------------------------------------------------- cb plan --format json

Action = Literal["create", "update", "delete", "move", "no-op"]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldPath(_Closed):
    path: str = Field(description="Dotted path of a changed leaf, e.g. spec.greeting.")
    diff: str | None = Field(None, description="Unified diff, for multi-line text such as prompts.")


class Drift(BaseModel):
    """Who changed the live revision outside git (watch, rollback, or the provider's console)."""

    model_config = ConfigDict(extra="allow")
    source: str | None = None
    by: str | None = None
    at: str | None = None
    message: str | None = None
    provider: str | None = None
    missing: bool | None = None
    differences: dict[str, list[Any]] | None = None


class ResourceChangeDoc(_Closed):
    address: str = Field(description="kind.name, e.g. agent.front-desk.")
    kind: str
    name: str
    actions: list[Action] = Field(description='["create"], ["update"], ["delete"], ["move"], ["move", "update"] or ["no-op"].')
    before: dict[str, Any] | None = Field(description="Live document (sensitive values hidden), null if none.")
    after: dict[str, Any] | None = Field(description="Configured document (sensitive values hidden), null on delete.")
    before_hash: str | None
    after_hash: str | None
    moved_from: str | None = None
    fields: list[FieldPath] | None = None
    drift: Drift | None = None
    skipped: str | None = Field(None, description="Why this change is held back (drift without --overwrite-drift).")
    note: str | None = Field(None, description="Why it changes when the configuration did not (e.g. the runner's public URL moved).")


class Summary(_Closed):
    """Per action, how many resource_changes have it (held back or not); drift: how many are held back."""

    create: int
    update: int
    delete: int
    move: int
    no_op: int = Field(alias="no-op")
    drift: int


class PlanDocument(_Closed):
    """`cb plan --format json`."""

    format_version: Literal["1.0"]
    lineage: str = Field(description="State lineage the plan was made against.")
    serial: int = Field(description="State serial the plan was made against; a saved plan refuses to apply once it moved.")
    created_at: str
    project: str
    runner: str
    has_changes: bool
    targeted: bool
    summary: Summary
    drift: list[dict[str, Any]] = Field(description="Live revisions changed outside git, each with who, when and "
                                        "whether its change is held back; reported here, never as a change.")
    cause: dict[str, Any]
    errors: list[str]
    resource_changes: list[ResourceChangeDoc]
