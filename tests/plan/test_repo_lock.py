"""The repository's own cb.lock matches its own fleet (agents/), as `cb plan --locked` would demand."""

from __future__ import annotations

import json
from pathlib import Path

from cb.config.project import load_project
from cb.lockfile import compute_lock

ROOT = Path(__file__).resolve().parents[2]


def test_committed_cb_lock_matches_the_fleet():
    project, diags = load_project(cwd=ROOT)
    assert not [d for d in diags if d.severity == "error"]
    committed = json.loads((ROOT / "cb.lock").read_text())
    fresh = compute_lock(project)
    for section in ("resources", "schemas", "voices", "models"):
        assert committed[section] == fresh[section], (
            f"cb.lock is stale in {section!r}: run `cb plan` at the repository root (it rewrites cb.lock "
            "before it contacts the runner) and commit cb.lock")
