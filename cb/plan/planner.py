"""Make a plan for a project against a runner, the one way: `cb plan`, `cb apply` and watch mode.

A plan is the project's desired resources (cb.plan.desired) diffed against what the runner holds
(cb.plan.diff), bound to the state lineage and serial it saw. The runner is anything that answers
like the admin API: ``state(refresh)``, ``contents(addresses)`` and a ``url`` — cb.client's
RunnerClient over HTTP, or cb.apply.engine's InProcessRunner inside the runner (watch mode).
Around it, the steps `cb plan` and `cb apply` share: check cb.lock, turn a plan into the change
set to apply, render it, save it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cb import lockfile
from cb.contracts.plan_document import Plan, ResourceChange
from cb.providers.credentials import fix
from cb.state.store import Change

from .desired import desired_from_project
from .diff import compute
from .render_json import render_json
from .render_markdown import render_markdown
from .render_text import render_text

RENDERERS = {"text": render_text, "json": render_json, "markdown": render_markdown}


class LockMismatch(Exception):
    """--locked and the configuration no longer matches cb.lock."""


def make_plan(project: Any, runner: Any, *, overwrite_drift: bool = False, cause: dict[str, Any] | None = None,
              refresh: bool = True, targeted: bool = False) -> Plan:
    """Refresh (what external providers really hold, with ``refresh``), diff, bind to lineage and serial."""
    view = runner.state(refresh=refresh)
    observed = dict(view.get("observed") or {})
    desired = desired_from_project(project)
    creating = {a: d[2] for a, d in desired.items() if d[0] == "Number" and a not in view["resources"]
                and (d[2].get("spec") or {}).get("provider", "local") != "local"}
    if refresh and creating and hasattr(runner, "observe"):  # what the account holds for numbers to create
        observed.update(runner.observe(creating))
    errors = [f"{address}: cannot read it from the {o.get('provider')} provider: {o['error']}"
              for address, o in sorted(observed.items()) if o.get("error")]
    errors += missing_credentials(desired, runner)
    moved = [(m.from_, m.to) for m in project.settings.moved]
    changes, more = compute(desired, view["resources"], runner.contents, observed, moved,
                            overwrite_drift, targeted)
    return Plan(lineage=view["lineage"], serial=view["serial"], fingerprint=view.get("fingerprint"),
                created_at=datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
                project=project.settings.name, runner=runner.url, changes=changes,
                overwrite_drift=overwrite_drift, cause=cause or {}, errors=errors + more, targeted=targeted)


def missing_credentials(desired: dict[str, Any], runner: Any) -> list[str]:
    """One error per agent whose providers need environment variables the runner lacks (names only):
    found now, not by the first caller."""
    agents = {a: (d[2].get("spec") or {}).get("pipeline") or {} for a, d in desired.items() if d[0] == "Agent"}
    if not agents or not hasattr(runner, "credentials"):
        return []
    out = []
    for address, found in sorted(runner.credentials(agents).items()):
        if found.get("missing"):
            missing = found["missing"]
            out.append(f"{address}: its providers need {', '.join(missing)}, not set on the runner, so every "
                       f"call would fail; {fix(missing)}")
    return out


def action_of(change: ResourceChange) -> str:
    return "move" if "move" in change.actions else change.actions[0]


def to_changes(changes: list[ResourceChange], adopt: bool = False) -> list[Change]:
    """The change set to apply: everything pending (no-ops and held-back drift excluded). With
    ``adopt`` (`cb apply` from git), also a revision for each live one made outside git that git now
    matches, so the drift is over and git's next change is not held back; no content changes."""
    return [Change(c.address, c.kind, c.name, "update" if c.adopt and not c.is_change else action_of(c), c.after,
                   c.moved_from) for c in changes if c.is_change or (adopt and c.adopt)]


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


def render(plan: Plan, fmt: str) -> str:
    return RENDERERS[fmt](plan)


def save(plan: Plan, path: str | Path) -> None:
    Path(path).write_text(plan.dumps())
