"""The steps `cb plan` and `cb apply` share: check cb.lock, make the plan, render it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cb import lockfile

from .build import desired_from_project
from .make import make_plan
from .model import Plan
from .render_json import render_json
from .render_markdown import render_markdown
from .render_text import render_text

RENDERERS = {"text": render_text, "json": render_json, "markdown": render_markdown}


class LockMismatch(Exception):
    """--locked and the configuration no longer matches cb.lock."""


def check_lock(project: Any, locked: bool) -> bool:
    """With ``locked``, fail if cb.lock differs; otherwise write it when it changed. True if written."""
    new = lockfile.compute_lock(project, {a: d[3] for a, d in desired_from_project(project).items()})
    if locked:
        problems = lockfile.mismatches(lockfile.read(project.root), new)
        if problems:
            raise LockMismatch("the configuration no longer matches cb.lock (--locked): " + "; ".join(problems[:20])
                               + (f"; and {len(problems) - 20} more" if len(problems) > 20 else "")
                               + ". Run `cb plan` without --locked and commit cb.lock")
        return False
    return lockfile.write_if_changed(project.root, new)


def check_plan_lock(plan: Plan, root: Path | None) -> None:
    """A saved plan under --locked: every resource it changes must have the hash cb.lock records."""
    lock = lockfile.read(root) if root else None
    if lock is None:
        raise LockMismatch("--locked, but there is no cb.lock here; run `cb plan` and commit cb.lock")
    pinned = lock.get("resources", {})
    wrong = [c.address for c in plan.pending if c.after_hash is not None and pinned.get(c.address) != c.after_hash]
    if wrong:
        raise LockMismatch(f"the saved plan does not match cb.lock (--locked) for: {', '.join(wrong)}; "
                           "plan again from the committed configuration")


def plan_for(project: Any, client: Any, *, overwrite_drift: bool, cause: dict[str, Any], targeted: bool = False) -> Plan:
    return make_plan(project, client, overwrite_drift=overwrite_drift, cause=cause, targeted=targeted)


def render(plan: Plan, fmt: str) -> str:
    return RENDERERS[fmt](plan)


def save(plan: Plan, path: str | Path) -> None:
    Path(path).write_text(plan.dumps())
