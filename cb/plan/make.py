"""Make a plan for a loaded project against a runner: refresh, diff, bind to lineage and serial."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from .build import desired_from_project
from .diff import compute
from .model import Plan


def make_plan(project: Any, client: Any, *, overwrite_drift: bool = False, cause: dict[str, Any] | None = None,
              refresh: bool = True, targeted: bool = False) -> Plan:
    view = client.state(refresh=refresh)
    observed = view.get("observed") or {}
    errors = [f"{address}: cannot read it from the {o.get('provider')} provider: {o['error']}"
              for address, o in sorted(observed.items()) if o.get("error")]
    moved = [(m.from_, m.to) for m in project.settings.moved]
    changes, more = compute(desired_from_project(project), view["resources"], client.contents, observed, moved,
                            overwrite_drift, targeted)
    return Plan(lineage=view["lineage"], serial=view["serial"],
                created_at=datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
                project=project.settings.name, runner=client.url, changes=changes,
                overwrite_drift=overwrite_drift, cause=cause or {}, errors=errors + more, targeted=targeted)
