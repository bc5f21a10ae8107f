"""From a committed state snapshot to a call's plan: routing, pinning, templates, tools."""

from __future__ import annotations

import pytest

from cb.runner.calls.callplan import NotRoutable, plan_call

from tests.support.fleet import FLEET, commit_fleet


def test_routes_by_dialled_number_and_renders_with_defaults(store, tmp_path):
    snap = commit_fleet(store, tmp_path)
    plan = plan_call(snap, to_number="+14155550100", from_number="+15550001111")
    assert plan.agent == "agent.front-desk" and plan.number == "number.main"
    assert plan.agent_revision == snap.resources["agent.front-desk"].hash
    assert plan.instructions == f"You are the front desk of Acme Dental. Call {plan.call_id}."
    assert plan.greeting == "Thanks for calling Acme Dental."
    assert set(plan.tools) == {"book"}  # end_call is a built-in, run by the tool executor
    assert plan.context["call"] == {"id": plan.call_id, "direction": "inbound",
                                    "from_number": "+15550001111", "to_number": "+14155550100"}


def test_given_context_overrides_declared_defaults_and_unknown_keys_are_ignored(store, tmp_path):
    snap = commit_fleet(store, tmp_path)
    plan = plan_call(snap, agent="agent.front-desk", to_number=None, from_number=None,
                     given={"customer": {"first_name": "Maria"}, "injected": "{{ 7*7 }}"})
    assert plan.greeting == "Thanks for calling Acme Dental, Maria."
    assert "injected" not in plan.context


def test_a_plan_keeps_its_revision_after_a_new_one_is_applied(store, tmp_path):
    first = commit_fleet(store, tmp_path)
    plan = plan_call(first, to_number="+14155550100", from_number=None)
    second = commit_fleet(store, tmp_path, FLEET.replace("Acme Dental", "Bright Smile"))
    assert second.serial == first.serial + 1
    assert plan.instructions.startswith("You are the front desk of Acme Dental")
    assert plan.agent_revision != second.resources["agent.front-desk"].hash
    fresh = plan_call(store.snapshot(), to_number="+14155550100", from_number=None)
    assert fresh.agent_revision == second.resources["agent.front-desk"].hash


@pytest.mark.parametrize("to, message", [("+19999999999", "no Number resource for +19999999999"),
                                          ("+14155550111", "number.spare has no agent")])
def test_unroutable_calls_say_why(store, tmp_path, to, message):
    snap = commit_fleet(store, tmp_path)
    with pytest.raises(NotRoutable, match=message.replace("+", r"\+")):
        plan_call(snap, to_number=to, from_number=None)


def test_an_agent_that_is_not_applied_is_not_routable(store, tmp_path):
    snap = commit_fleet(store, tmp_path)
    with pytest.raises(NotRoutable, match="agent.sales is not applied"):
        plan_call(snap, agent="agent.sales", to_number=None, from_number=None)


def test_an_outbound_call_is_routed_by_the_number_it_calls_from(store, tmp_path):
    snap = commit_fleet(store, tmp_path)
    plan = plan_call(snap, to_number="+15557654321", from_number="+14155550100", direction="outbound")
    assert plan.agent == "agent.front-desk" and plan.number == "number.main"
    assert plan.context["call"]["direction"] == "outbound"


def test_a_named_return_schema_is_pinned_with_the_agent(store, tmp_path):
    with_returns = FLEET.replace("  tools: [book, end_call]\n", "  tools: [book, end_call]\n  returns: outcome\n") + (
        "---\napiVersion: cb/v1\nkind: ReturnSchema\nmetadata: {name: outcome}\n"
        "spec:\n  schema: {type: object, properties: {intent: {type: string}}, required: [intent]}\n")
    first = commit_fleet(store, tmp_path, with_returns)
    plan = plan_call(first, to_number="+14155550100", from_number=None)
    commit_fleet(store, tmp_path, with_returns.replace("required: [intent]", "required: []"))
    assert plan.returns_schema == {"type": "object", "properties": {"intent": {"type": "string"}},
                                   "required": ["intent"]}
