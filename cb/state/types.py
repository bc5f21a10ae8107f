"""The immutable values the store hands out: revisions, snapshots, the change cause and the lock."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

SOURCES = ("apply", "watch", "rollback", "import")


@dataclass(frozen=True)
class Cause:
    """Why a revision exists: the git commit it came from and the person's message."""

    commit: str | None = None
    author: str | None = None
    branch: str | None = None
    pull_request: str | None = None
    dirty: bool = False
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "Cause":
        data = data or {}
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class Revision:
    """One revision of one address. ``content`` is None for a deletion (a tombstone in history)."""

    id: int
    serial: int
    address: str
    kind: str
    name: str
    action: str  # create | update | delete | move
    hash: str | None
    content: Mapping[str, Any] | None
    applied_at: str
    source: str
    cause: Cause
    applied_by: str
    moved_from: str | None = None
    chain: str = ""

    def to_dict(self, with_content: bool = True) -> dict[str, Any]:
        out = {
            "id": self.id, "serial": self.serial, "address": self.address, "kind": self.kind,
            "name": self.name, "action": self.action, "hash": self.hash, "applied_at": self.applied_at,
            "source": self.source, "cause": self.cause.to_dict(), "applied_by": self.applied_by,
            "moved_from": self.moved_from, "chain": self.chain,
        }
        if with_content:
            out["content"] = _thaw(self.content)
        return out


@dataclass(frozen=True)
class Snapshot:
    """Everything live at one serial (and head). Immutable: a call pins one and keeps it to the end."""

    lineage: str
    serial: int
    resources: Mapping[str, Revision] = field(default_factory=dict)
    #: The chain value of the newest revision: it moves with every commit, also when one change
    #: set is recorded in steps under one serial (cb.apply.engine: each number as it lands).
    head: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "resources", MappingProxyType(dict(self.resources)))


@dataclass(frozen=True)
class Lock:
    id: str
    holder: str
    operation: str
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def freeze(value: Any) -> Any:
    """Read-only view of parsed JSON, so a snapshot cannot be changed by whoever holds it."""
    if isinstance(value, dict):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


thaw = _thaw
