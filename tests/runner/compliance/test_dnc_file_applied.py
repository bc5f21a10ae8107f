"""A do-not-call ``file`` source travels with its policy: the numbers read from the file where the
project is are applied with the policy (and the file's sha256), so a plan shows a change of the
list as a change of the policy (a count and hash, not every number), the runner's apply accepts
that form and refuses a file source without its numbers, and the runner judges calls by the
applied numbers whatever folder it was started in, never a file on its own disk."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime, timezone
from pathlib import Path

import pytest

from cb.apply.integrity import check_documents
from cb.config.models import CompliancePolicy
from cb.config.project import load_project
from cb.contracts.change_wire import from_wire, to_wire
from cb.contracts.plan_document import Plan
from cb.plan.desired import desired_from_project
from cb.plan.diff import compute
from cb.plan.render_markdown import render_markdown
from cb.plan.render_text import render_text
from cb.runner.compliance.clock import FixedClock
from cb.runner.compliance.dialing import Dialing
from cb.runner.compliance.queue import DialQueue
from cb.state import open_store
from cb.state.errors import StateError
from cb.state.store import Change

from tests.runner.compliance.test_dial_queue import Provider, req
from tests.support.plans import meta

FLEET = """\
apiVersion: cb/v1
kind: Agent
metadata: {name: a}
spec:
  instructions: Remind people.
  greeting: Hello.
  compliance: [us]
---
apiVersion: cb/v1
kind: CompliancePolicy
metadata: {name: us}
spec:
  calling_windows: [{days: [mon, tue, wed, thu, fri, sat, sun], start: "08:00", end: "21:00"}]
  do_not_call:
    - {type: file, path: dnc/list.csv}
    - {type: numbers, numbers: ["+12125550199"]}
"""
ON_THE_LIST = "+12125550190"


def project(root: Path, listed: str | None, fleet: str = FLEET):
    (root / "agents").mkdir(parents=True, exist_ok=True)
    (root / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: p\npaths: [agents]\n")
    (root / "agents" / "fleet.yaml").write_text(fleet)
    if listed is not None:
        (root / "dnc").mkdir(exist_ok=True)
        (root / "dnc" / "list.csv").write_text(listed)
    loaded, diags = load_project(None, root)
    assert not [d for d in diags if d.severity == "error"], diags
    return loaded


def plan_between(before, after) -> Plan:
    live = {a: meta(d[2]) for a, d in before.items()}
    changes, errors = compute(after, live, lambda addrs: {a: before[a][2] for a in addrs})
    assert not errors
    return Plan(lineage="l", serial=1, created_at="t", project="p", runner="r", changes=changes)


def test_a_changed_list_file_is_a_change_of_its_policy_shown_as_a_count_and_hash(tmp_path):
    first = "# asked not to be called\nnumber,name\n" + f"{ON_THE_LIST},Ann\n+12125550191\n"
    many = "".join(f"+1212555{i:04d}\n" for i in range(5000))
    before = desired_from_project(project(tmp_path / "a", first))
    after = desired_from_project(project(tmp_path / "b", many))
    source = before["compliance_policy.us"][2]["spec"]["do_not_call"][0]
    assert source["numbers"] == [ON_THE_LIST, "+12125550191"]  # the CSV's first column, header and comment skipped
    assert source["sha256"] == hashlib.sha256(first.encode()).hexdigest()

    plan = plan_between(before, after)
    assert [c.address for c in plan.changes if c.is_change] == ["compliance_policy.us"]
    text, md = render_text(plan), render_markdown(plan)
    new_sha = hashlib.sha256(many.encode()).hexdigest()
    for shown in (text, md):
        assert "(2 numbers)" in shown and "(5000 numbers)" in shown and new_sha in shown, shown
        assert "+12125554999" not in shown and len(shown) < 2000
    assert "+12125554999" in plan.changes[0].after["spec"]["do_not_call"][0]["numbers"]  # the JSON plan has all

    # the same list again: no change
    again = desired_from_project(project(tmp_path / "c", first))
    assert not [c for c in plan_between(before, again).changes if c.is_change]


def test_a_policy_without_file_sources_keeps_its_content_and_hash(tmp_path):
    fleet = FLEET.replace("    - {type: file, path: dnc/list.csv}\n", "")
    loaded = project(tmp_path / "p", None, fleet)
    r = loaded.resources["compliance_policy.us"]
    plain = CompliancePolicy.model_validate(r.doc.data).model_dump(mode="json", by_alias=True)
    assert r.canonical() == plain and "sha256" not in str(plain)


def test_a_file_source_with_numbers_in_yaml_is_refused(tmp_path):
    fleet = FLEET.replace("path: dnc/list.csv}", 'path: dnc/list.csv, numbers: ["+12125550100"]}')
    (tmp_path / "dnc").mkdir()
    (tmp_path / "dnc" / "list.csv").write_text("")
    (tmp_path / "agents").mkdir()
    (tmp_path / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: p\npaths: [agents]\n")
    (tmp_path / "agents" / "fleet.yaml").write_text(fleet)
    _, diags = load_project(None, tmp_path)
    assert any("numbers" in d.message and d.severity == "error" for d in diags), diags


def test_the_runners_apply_accepts_the_applied_list_and_refuses_a_file_source_without_it(tmp_path):
    loaded = project(tmp_path / "p", f"{ON_THE_LIST}\n")
    changes = [Change(r.address, r.kind, r.name, "create", r.canonical()) for r in loaded.resources.values()]
    wired = from_wire(to_wire(changes))  # the wire keeps the numbers, and the hash
    assert [c.content for c in wired] == [c.content for c in changes]
    check_documents({}, wired)
    stripped = []
    for c in wired:
        content = c.content
        if c.kind == "CompliancePolicy":
            spec = dict(content["spec"])
            spec["do_not_call"] = [{"type": "file", "path": "dnc/list.csv"}, *spec["do_not_call"][1:]]
            content = {**content, "spec": spec}
        stripped.append(Change(c.address, c.kind, c.name, c.action, content))
    with pytest.raises(StateError, match=r"compliance_policy.us: CB102.*dnc/list.csv.*carries no numbers"):
        check_documents({}, stripped)


@pytest.mark.parametrize("start_folder", ["without the file", "with another file"])
def test_the_runner_refuses_the_applied_numbers_wherever_it_was_started(tmp_path, monkeypatch, start_folder):
    loaded = project(tmp_path / "git", f"{ON_THE_LIST}\n")
    here = tmp_path / "runner"
    (here / "dnc").mkdir(parents=True)
    if start_folder == "with another file":
        (here / "dnc" / "list.csv").write_text("+12125550100\n")  # not what was reviewed
    monkeypatch.chdir(here)
    store = open_store(tmp_path / "state", None)
    store.commit([Change(r.address, r.kind, r.name, "create", r.canonical()) for r in loaded.resources.values()],
                 source="apply", applied_by="test")
    clock, log = FixedClock(datetime(2026, 1, 12, 18, tzinfo=timezone.utc)), []
    dialing = Dialing(Provider(clock, store, log), DialQueue.for_store(store), clock=clock)
    try:
        [policy] = dialing.policies(store.snapshot(), "agent.a")
        assert policy.dnc == {ON_THE_LIST, "+12125550199"} and not policy.dnc_errors

        async def no_record(*args):  # the stand-in provider keeps no call records
            return None
        dialing._refuse = no_record
        refused, code = asyncio.run(dialing.submit(req(ON_THE_LIST)))
        assert code == 403 and refused["compliance"][0]["rule"] == "do_not_call", refused
        assert "on a do-not-call list" in refused["compliance"][0]["detail"]
        _, code = asyncio.run(dialing.submit(req("+12125550100")))  # on the start folder's file only
        assert code == 201 and [to for to, _, _ in log] == ["+12125550100"]
    finally:
        store.close()
