"""The tools policy (cb.yaml's ``tools:``) travels with what is applied: each HTTP tool carries it,
so a plan shows a change of it, the runner's apply re-checks the tool against it, and a call uses
the policy pinned with the tool, never a cb.yaml in the folder the runner was started in."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cb.apply.integrity import check_documents
from cb.config.project import load_project
from cb.contracts.change_wire import from_wire, to_wire
from cb.plan.desired import desired_from_project
from cb.plan.diff import compute
from cb.contracts.plan_document import Plan
from cb.plan.render_text import render_text
from cb.runner.app import Settings, create_app
from cb.runner.calls.callplan import plan_call
from cb.runner.calls.toolcalls import SessionControl, executor_for
from cb.runner.tools import egress
from cb.state.errors import StateError
from cb.state.store import Change

from tests.support.plans import meta
from tests.support.receiver import Receiver

FLEET = """\
apiVersion: cb/v1
kind: Agent
metadata: {{name: desk}}
spec:
  instructions: Look things up.
  greeting: Hello.
  tools: [lookup, end_call]
---
apiVersion: cb/v1
kind: Tool
metadata: {{name: lookup}}
spec:
  description: Look something up.
  parameters: {{type: object, properties: {{q: {{type: string}}}}}}
  http: {{url: "{url}/lookup", method: POST, timeout_ms: 2000, retries: 0{headers}}}
---
apiVersion: cb/v1
kind: Number
metadata: {{name: main}}
spec: {{number: "+14155550100", provider: local, agent: desk}}
"""


def project(root: Path, tools: str, url: str = "http://127.0.0.1:9", headers: str = ""):
    (root / "agents").mkdir(parents=True, exist_ok=True)
    (root / "cb.yaml").write_text(f"apiVersion: cb/v1\nkind: Project\nname: p\npaths: [agents]\n{tools}")
    (root / "agents" / "fleet.yaml").write_text(FLEET.format(url=url, headers=headers))
    loaded, diags = load_project(None, root)
    assert not [d for d in diags if d.severity == "error"], diags
    return loaded


def commit(store, loaded, **content_edits):
    live = store.snapshot().resources
    changes = []
    for r in loaded.resources.values():
        content = {**r.canonical(), **(content_edits if r.kind == "Tool" else {})}
        changes.append(Change(r.address, r.kind, r.name, "update" if r.address in live else "create",
                              {k: v for k, v in content.items() if v is not None}))
    return store.commit(changes, source="apply", applied_by="test")


def run_lookup(snapshot) -> dict:
    plan = plan_call(snapshot, to_number="+14155550100", from_number=None)

    async def say(text):
        return None

    async def go():
        return await executor_for(plan, say, SessionControl(lambda why: asyncio.sleep(0), None, False)).execute(
            "lookup", {"q": "x"})
    return asyncio.run(go())


def test_a_plan_shows_a_change_of_the_tools_policy_on_the_tools_it_governs(tmp_path):
    before = desired_from_project(project(tmp_path / "a", "tools: {allow_networks: [127.0.0.0/8]}\n"))
    after = desired_from_project(project(tmp_path / "b", "tools: {env: [LOOKUP_*], allow_networks: [10.0.0.0/8]}\n"))
    live = {a: meta(d[2]) for a, d in before.items()}
    changes, errors = compute(after, live, lambda addrs: {a: before[a][2] for a in addrs})
    assert not errors
    plan = Plan(lineage="l", serial=1, created_at="t", project="p", runner="r", changes=changes)
    changed = [c for c in plan.changes if c.is_change]
    assert [c.address for c in changed] == ["tool.lookup"]  # the agent and the number are as they were
    text = render_text(plan)
    assert "policy.allow_networks" in text and "10.0.0.0/8" in text and "policy.env" in text, text
    # Without tools: in cb.yaml the strict default travels as no policy: content as it always was.
    plain = desired_from_project(project(tmp_path / "c", ""))
    assert "policy" not in plain["tool.lookup"][2]


def test_the_runners_apply_checks_each_tool_against_the_policy_it_carries(tmp_path):
    loaded = project(tmp_path / "p", "tools: {env: [LOOKUP_*]}\n", headers=", headers: {X-Key: '${env:LOOKUP_KEY}'}")
    changes = [Change(r.address, r.kind, r.name, "create", r.canonical()) for r in loaded.resources.values()]
    wired = from_wire(to_wire(changes))  # the wire keeps the policy, and its hash
    tool = next(c for c in wired if c.kind == "Tool")
    assert tool.content["policy"] == {"env": ["LOOKUP_*"], "allow_networks": []}
    assert tool.content == next(c for c in changes if c.kind == "Tool").content
    check_documents({}, wired)
    stripped = [Change(c.address, c.kind, c.name, c.action, {k: v for k, v in c.content.items() if k != "policy"})
                for c in wired]  # e.g. a raw POST /v1/apply that leaves the policy out
    with pytest.raises(StateError, match=r"CB602.*LOOKUP_KEY"):
        check_documents({}, stripped)


def test_a_call_uses_the_applied_policy_not_the_runners_start_folder(tmp_path, store):
    service = Receiver(script=[200, 200], reply={"ok": True})
    try:
        # The folder the runner starts in allows loopback; it must not matter.
        permissive = project(tmp_path / "start", "tools: {allow_networks: [127.0.0.0/8]}\n")
        create_app(Settings(state_dir=tmp_path / "s2", project_dir=permissive.root), extensions=None)
        assert egress.current() == egress.Policy()

        allowed = project(tmp_path / "git", "tools: {allow_networks: [127.0.0.0/8]}\n", url=service.url)
        answer = run_lookup(commit(store, allowed))
        assert answer["ok"] is True and len(service.requests) == 1

        # The same tool applied without the policy (cb.yaml lost its tools:): refused, wherever the runner runs.
        strict = project(tmp_path / "git2", "", url=service.url)
        answer = run_lookup(commit(store, strict))
        assert answer["ok"] is False and "loopback" in answer["error"] and len(service.requests) == 1
    finally:
        service.stop()
