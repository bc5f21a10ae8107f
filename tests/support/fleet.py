from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from cb.config.project import load_project
from cb.state import open_store
from cb.state.store import Change

os.environ.setdefault("HF_HUB_OFFLINE", "1")

FLEET = """\
apiVersion: cb/v1
kind: Agent
metadata: {name: front-desk}
spec:
  instructions: "You are the front desk of {{ business_name }}. Call {{ call.id }}."
  greeting: "Thanks for calling {{ business_name }}{% if customer.first_name %}, {{ customer.first_name }}{% endif %}."
  tools: [book, end_call]
  context:
    business_name: {type: string, default: Acme Dental}
    customer: {type: object, default: {}}
---
apiVersion: cb/v1
kind: Tool
metadata: {name: book}
spec:
  description: Book a slot.
  parameters: {type: object, properties: {slot: {type: string}}, required: [slot]}
  http: {url: "http://127.0.0.1:9/book"}
---
apiVersion: cb/v1
kind: Number
metadata: {name: main}
spec: {number: "+14155550100", agent: front-desk}
---
apiVersion: cb/v1
kind: Number
metadata: {name: spare}
spec: {number: "+14155550111"}
"""


def commit_fleet(store, root: Path, text: str = FLEET):
    (root / "agents").mkdir(parents=True, exist_ok=True)
    (root / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: t\npaths: [agents]\n")
    (root / "agents" / "fleet.yaml").write_text(text)
    project, diags = load_project(None, root)
    assert not [d for d in diags if d.severity == "error"], diags
    live = store.snapshot().resources
    changes = [Change(r.address, r.kind, r.name, "update" if r.address in live else "create", r.canonical())
               for r in project.resources.values()]
    return store.commit(changes, source="apply", applied_by="test")


@pytest.fixture
def store(tmp_path: Path) -> Iterator:
    s = open_store(tmp_path / "state")
    yield s
    s.close()
