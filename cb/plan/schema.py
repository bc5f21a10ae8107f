"""The published shape of `cb plan --format json` (schemas/plan.json), for tools that read plans.

Kept beside the renderer and checked against its output in tests, so the schema cannot drift
from what cb prints. ``format_version`` changes when a field changes meaning or goes away.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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


class Summary(_Closed):
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
    cause: dict[str, Any]
    errors: list[str]
    resource_changes: list[ResourceChangeDoc]
