"""What the project asks for: each loaded resource as the planner compares it with the runner.

One entry per address: (kind, name, canonical content, content hash). The hashes also feed cb.lock.
"""

from __future__ import annotations

from typing import Any

from cb.state.canonical import content_hash


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
