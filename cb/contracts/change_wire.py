"""The change set on the wire: the ``changes`` list of ``POST /v1/apply`` (and the body of ``/v1/import``).

Produced by `cb apply` (cb.apply.run, from a plan) and by anything else that drives the admin API
(bench/, tests); consumed by the runner's admin routes, which refuse the whole set before anything
is touched when one entry is wrong. Each entry is ``{address, kind, name, action, content,
moved_from, hash}``; ``content`` is the full canonical document, absent or null for a delete (an
HTTP Tool's also carries ``policy``, cb.yaml's ``tools:``: cb.config.models.AppliedTool);
``hash``, when given, is the content hash the plan recorded, and the runner refuses the set when
the content does not hash to it (``hashes``).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from cb.config.models import ADDRESS_PREFIX, APPLIED_KINDS, KINDS
from cb.state.errors import StateError
from cb.state.store import Change

ACTIONS = ("create", "update", "delete", "move")


def to_wire(changes: list[Change], hashes: dict[str, str | None] | None = None) -> list[dict[str, Any]]:
    hashes = hashes or {}
    return [{"address": c.address, "kind": c.kind, "name": c.name, "action": c.action, "content": c.content,
             "moved_from": c.moved_from, **({"hash": hashes[c.address]} if hashes.get(c.address) else {})}
            for c in changes]


def hashes(raw: list[dict[str, Any]]) -> dict[str, str | None]:
    """address -> the hash each entry declares (entries without one are not hash-checked)."""
    return {item["address"]: item["hash"] for item in raw if isinstance(item, dict) and isinstance(item.get("hash"), str)
            and isinstance(item.get("address"), str)}


def from_wire(raw: list[dict[str, Any]]) -> list[Change]:
    """Turn a change set from the wire into validated Changes; StateError on anything wrong."""
    out, problems = [], []
    for n, item in enumerate(raw):
        address, kind, name, action = (item.get(k) for k in ("address", "kind", "name", "action"))
        content = item.get("content")
        if kind not in KINDS or not isinstance(name, str) or address != f"{ADDRESS_PREFIX[kind]}.{name}":
            problems.append(f"change {n}: address {address!r} does not match kind {kind!r} and name {name!r}")
            continue
        if action not in ACTIONS:
            problems.append(f"{address}: unknown action {action!r}")
            continue
        if action != "delete":
            try:
                model = APPLIED_KINDS[kind].model_validate(content)  # a Tool with its policy
            except ValidationError as exc:
                problems.append(f"{address}: content is not a valid {kind}: {exc.errors()[0]['msg']}")
                continue
            if model.metadata.name != name:
                problems.append(f"{address}: content names {model.metadata.name!r}")
                continue
            content = model.model_dump(mode="json", by_alias=True)
        out.append(Change(address, kind, name, action, content if action != "delete" else None, item.get("moved_from")))
    if problems:
        raise StateError("the change set was refused, nothing was applied:\n  " + "\n  ".join(problems))
    return out
