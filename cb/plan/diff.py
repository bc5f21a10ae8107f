"""Compute a plan: desired documents (from git) against live revisions (from the runner).

Hashes decide what changed (canonical JSON, so key order never makes noise); contents are
fetched only for the addresses that differ, which keeps a no-op plan over thousands of resources
cheap. Drift (a live revision written by watch or rollback, or a number changed at its provider)
is shown with its diff and held back unless ``overwrite_drift``; it exists only while git and live
differ, so it clears once they agree again. What a provider holds shows as ``provider.<field>``
changes (before: what it holds now, after: what apply sets), for numbers to create too.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, Iterable, Mapping

from cb.contracts.plan_document import FieldChange, ResourceChange

#: Sources of a live revision that did not come from git through `cb apply`.
DRIFT_SOURCES = ("watch", "rollback")
KIND_ORDER = {"ReturnSchema": 0, "CompliancePolicy": 1, "Tool": 2, "Agent": 3, "Number": 4}


def _drift_of(meta: Mapping[str, Any], observed: Mapping[str, Any] | None) -> dict[str, Any] | None:
    drift: dict[str, Any] = {}
    if meta.get("source") in DRIFT_SOURCES:
        cause = meta.get("cause") or {}
        drift.update({"source": meta["source"], "by": meta.get("applied_by"), "at": meta.get("applied_at"),
                      "message": cause.get("message"), "revision": meta.get("id")})
    if observed and meta.get("source") != "import" and not observed.get("public_url_changed"):
        outside = f"outside cb (at the {observed.get('provider')} provider)"
        if observed.get("missing"):
            drift.update({"provider": observed.get("provider"), "missing": True, "by": drift.get("by") or outside})
        elif observed.get("differences"):
            drift.update({"provider": observed.get("provider"), "differences": observed["differences"],
                          "by": drift.get("by") or outside})
            if observed.get("updated_at") and not drift.get("at"):
                drift["at"] = observed["updated_at"]
    return drift or None


def provider_fields(observed: Mapping[str, Any] | None) -> list[FieldChange]:
    """What the provider holds now against what apply sets there (``provider.voice_url`` ...)."""
    return [FieldChange(f"provider.{name}", have, want) for name, (have, want)
            in sorted(((observed or {}).get("differences") or {}).items())]


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping) and not value and not prefix:
        return {}
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for k in sorted(value):
            out.update(flatten(value[k], f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def field_changes(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[FieldChange]:
    """Leaf-level differences; multi-line text (prompts) as a unified diff."""
    b, a = flatten(before or {}), flatten(after or {})
    out = []
    for path in sorted(set(b) | set(a)):
        old, new = b.get(path), a.get(path)
        if old == new:
            continue
        diff = None
        if isinstance(old, str) and isinstance(new, str) and ("\n" in old or "\n" in new):
            diff = "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                                fromfile=f"{path} (live)", tofile=f"{path} (config)", n=2))
            if not diff.endswith("\n"):
                diff += "\n"
        out.append(FieldChange(path, old, new, diff))
    return out


def compute(desired: Mapping[str, tuple[str, str, dict[str, Any], str]],
            live: Mapping[str, Mapping[str, Any]],
            contents: Callable[[list[str]], Mapping[str, Any]],
            observed: Mapping[str, Mapping[str, Any]] | None = None,
            moved: Iterable[tuple[str, str]] = (),
            overwrite_drift: bool = False, targeted: bool = False) -> tuple[list[ResourceChange], list[str]]:
    """``desired``: address -> (kind, name, content, hash). ``live``: address -> revision metadata
    (kind, name, hash, source, applied_by, applied_at, cause, id). ``targeted``: the desired set is
    only some files (an operator applying one agent), so nothing outside it is deleted.
    Returns (changes, errors)."""
    observed = observed or {}
    errors: list[str] = []
    renames = {}
    for old, new in moved:
        if old in live and new not in live and new in desired:
            renames[new] = old
    changes: list[ResourceChange] = []
    consumed = set(renames.values())
    for address, (kind, name, content, hash_) in desired.items():
        if address in renames:
            old = renames[address]
            meta = live[old]
            actions = ["move"] if meta["hash"] == hash_ else ["move", "update"]
            changes.append(ResourceChange(address, kind, name, actions, None, content, meta["hash"], hash_,
                                          moved_from=old, drift=_drift_of(meta, observed.get(old))))
        elif address not in live:
            seen = observed.get(address) or {}
            if seen.get("missing") and not (content.get("spec") or {}).get("purchase"):
                errors.append(f"{address}: the {seen.get('provider')} account does not hold {content['spec'].get('number')}, "
                              "and the Number does not say purchase: true. Use a number the account holds, or set "
                              "spec.purchase: true to buy it")
            changes.append(ResourceChange(address, kind, name, ["create"], None, content, None, hash_))
        else:
            meta = live[address]
            seen = observed.get(address) or {}
            same = meta["hash"] == hash_ and not (seen.get("missing") or seen.get("differences"))
            # Drift is a difference between git and live: once they agree again it is gone.
            drift = None if same else _drift_of(meta, seen)
            changes.append(ResourceChange(address, kind, name, ["no-op"] if same else ["update"], None, content,
                                          meta["hash"], hash_, drift=drift,
                                          adopt=same and meta.get("source") in DRIFT_SOURCES))
    for address, meta in live.items():
        if address in desired or address in consumed or targeted:
            continue
        changes.append(ResourceChange(address, meta["kind"], meta["name"], ["delete"], None, None, meta["hash"], None,
                                      drift=_drift_of(meta, observed.get(address))))

    need = [c.moved_from or c.address for c in changes if c.actions != ["no-op"] and c.before_hash]
    before = contents(need) if need else {}
    for c in changes:
        if c.before_hash:
            c.before = before.get(c.moved_from or c.address)
        if c.actions == ["delete"] and c.before and (c.before.get("spec") or {}).get("lifecycle", {}).get("prevent_destroy"):
            spec = c.before.get("spec") or {}
            why = (" (a released phone number cannot be bought back)" if spec.get("purchase")
                   and spec.get("provider", "local") != "local" else "")
            errors.append(f"{c.address}: removing it from the configuration is refused: its live revision "
                          f"sets lifecycle.prevent_destroy{why}. "
                          "Put the document back, or first apply it with prevent_destroy: false")
        if c.moved_from and c.before is not None:
            renamed = {**c.before, "metadata": {**c.before.get("metadata", {}), "name": c.name}}
            c.actions = ["move"] if renamed == c.after else ["move", "update"]
            c.fields = field_changes(renamed, c.after)
        elif c.actions != ["no-op"]:
            c.fields = field_changes(c.before, c.after)
        if c.actions != ["no-op"] and "delete" not in c.actions:
            seen = observed.get(c.moved_from or c.address) or {}
            c.fields += provider_fields(seen)
            if seen.get("public_url_changed"):
                moved_url = seen["public_url_changed"]
                c.note = (f"the runner's public URL changed from {moved_url['from']} to {moved_url['to']}; "
                          "apply points the number at the new one")
        if c.drift and c.actions != ["no-op"] and not overwrite_drift:
            c.skipped = ("the live revision was changed outside git "
                         f"({c.drift.get('source') or 'at the provider'} by {c.drift.get('by')}); "
                         "it is not reverted unless you plan with --overwrite-drift")
    changes.sort(key=lambda c: (KIND_ORDER.get(c.kind, 9), c.address))
    return changes, errors
