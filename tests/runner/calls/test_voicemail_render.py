"""An outbound call's voicemail message renders with its instructions and greeting, through the same
bounded renderer, and a failure is the plan's render_error like theirs (the call is not placed)."""

from __future__ import annotations

from cb.runner.calls.callplan import plan_call

from tests.support.fleet import FLEET, commit_fleet

GREETING = '  greeting: "Thanks for calling {{ business_name }}'


def fleet(voicemail: str) -> str:
    phone = f"  phone: {{voicemail: leave_message, voicemail_message: {voicemail!r}}}\n"
    return FLEET.replace(GREETING, phone + GREETING, 1)


def test_the_voicemail_message_renders_with_the_calls_context(store, tmp_path):
    snap = commit_fleet(store, tmp_path, fleet("Hi {{ customer.first_name }}, {{ business_name }} here."))
    plan = plan_call(snap, agent="agent.front-desk", to_number="+15557654321", from_number="+14155550100",
                     direction="outbound", given={"customer": {"first_name": "Maria"}})
    assert plan.voicemail_message == "Hi Maria, Acme Dental here." and plan.render_error is None
    inbound = plan_call(snap, to_number="+14155550100", from_number=None)
    assert inbound.voicemail_message is None  # an inbound call never leaves one


def test_a_voicemail_message_that_fails_to_render_is_the_plans_render_error(store, tmp_path):
    # validates (cb validate cannot know), fails when rendered
    snap = commit_fleet(store, tmp_path, fleet("{{ 1 // (business_name|length - business_name|length) }}"))
    plan = plan_call(snap, agent="agent.front-desk", to_number="+15557654321", from_number="+14155550100",
                     direction="outbound")
    assert plan.voicemail_message is None and plan.render_error.startswith("phone.voicemail_message: ")
    assert "ZeroDivisionError" in plan.render_error
