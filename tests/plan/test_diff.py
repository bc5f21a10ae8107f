"""Planning logic without a runner: actions, renames, drift, prevent_destroy, key-order noise."""

from __future__ import annotations

import copy

from cb.plan.diff import compute
from cb.plan.planner import to_changes
from cb.state.canonical import canonical_json, content_hash

from tests.support.plans import AGENT_V1, NUMBER, address, meta, sample_plan


def desired_of(*docs):
    return {address(d): (d["kind"], d["metadata"]["name"], d, content_hash(d)) for d in docs}


def plan(desired_docs, live_docs, live_meta=None, observed=None, moved=(), overwrite=False):
    live = {address(d): meta(d) for d in live_docs} | (live_meta or {})
    contents = {address(d): d for d in live_docs}
    return compute(desired_of(*desired_docs), live, lambda a: {x: contents[x] for x in a if x in contents},
                   observed, moved, overwrite)


def test_key_order_makes_no_noise():
    reordered = {k: AGENT_V1[k] for k in reversed(list(AGENT_V1))}
    reordered["spec"] = {k: AGENT_V1["spec"][k] for k in reversed(list(AGENT_V1["spec"]))}
    assert canonical_json(reordered) == canonical_json(AGENT_V1)
    changes, errors = plan([reordered], [AGENT_V1])
    assert [c.actions for c in changes] == [["no-op"]] and not errors


def test_no_op_plans_fetch_no_contents():
    asked = []
    live = {address(AGENT_V1): meta(AGENT_V1)}
    compute(desired_of(AGENT_V1), live, lambda a: asked.extend(a) or {}, {}, (), False)
    assert asked == []


def test_removing_a_prevent_destroy_number_is_an_error():
    changes, errors = plan([], [NUMBER])
    assert changes[0].actions == ["delete"]
    assert errors and "prevent_destroy" in errors[0] and "number.main" in errors[0]


def test_drift_is_held_back_unless_overwritten():
    held = sample_plan()
    sales = next(c for c in held.changes if c.address == "agent.sales")
    assert sales.skipped and sales.drift["source"] == "watch" and sales.drift["by"] == "ops@runner-1"
    assert "agent.sales" not in [c.address for c in to_changes(held.changes)]
    forced = sample_plan(overwrite_drift=True)
    assert "agent.sales" in [c.address for c in to_changes(forced.changes)]


def test_a_number_changed_at_its_provider_is_drift():
    observed = {"number.main": {"provider": "twilio", "differences": {"voice_url": ["https://evil.example/x", "http://r/twilio/voice"]}}}
    changes, _ = plan([NUMBER], [NUMBER], observed=observed)
    (c,) = changes
    assert c.actions == ["update"] and c.skipped and "outside cb" in c.drift["by"]
    changes, _ = plan([NUMBER], [NUMBER], observed={"number.main": {"provider": "twilio", "missing": True}}, overwrite=True)
    assert changes[0].actions == ["update"] and not changes[0].skipped and changes[0].drift["missing"]


def test_an_imported_number_is_repointed_without_drift():
    observed = {"number.main": {"provider": "twilio", "differences": {"voice_url": ["https://old", "http://new"]}}}
    changes, _ = plan([NUMBER], [], live_meta={"number.main": meta(NUMBER, source="import")}, observed=observed)
    assert changes[0].actions == ["update"] and not changes[0].skipped


def test_rename_with_a_change_is_move_and_update():
    renamed = copy.deepcopy(AGENT_V1)
    renamed["metadata"]["name"] = "lobby"
    renamed["spec"]["greeting"] = "Welcome"
    changes, _ = plan([renamed], [AGENT_V1], moved=[("agent.front-desk", "agent.lobby")])
    (c,) = changes
    assert c.actions == ["move", "update"] and c.moved_from == "agent.front-desk"
    assert [f.path for f in c.fields] == ["spec.greeting"]
    without_moved, _ = plan([renamed], [AGENT_V1])
    assert sorted(tuple(c.actions) for c in without_moved) == [("create",), ("delete",)]
