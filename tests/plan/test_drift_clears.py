"""Drift exists only while git and live differ; a held-back change shows its diff; JSON agrees with itself."""

from __future__ import annotations

from cb.contracts.plan_document import Plan
from cb.plan.diff import compute
from cb.plan.render_json import plan_json
from cb.plan.render_text import render_text
from cb.state.canonical import content_hash

from tests.support.plans import doc, meta


def plan_of(git_doc, live_doc, source="rollback", observed=None):
    live = {"agent.sales": meta(live_doc, source, 9)}
    desired = {"agent.sales": ("Agent", "sales", git_doc, content_hash(git_doc))}
    changes, errors = compute(desired, live, lambda addrs: {"agent.sales": live_doc}, observed or {})
    assert not errors
    return Plan(lineage="l", serial=4, created_at="t", project="p", runner="r", changes=changes)


def test_drift_clears_once_git_matches_live():
    live = doc("Agent", "sales", {"instructions": "Sell.", "greeting": "Rolled back."})
    plan = plan_of(live, live)  # a git revert made git equal to the rolled-back revision
    assert plan.drifted == [] and plan.held_back == [] and not plan.has_changes
    assert "drift" not in render_text(plan) and plan_json(plan)["drift"] == []


def test_a_change_held_back_by_drift_says_so_with_its_diff_who_and_when():
    live = doc("Agent", "sales", {"instructions": "Sell.", "greeting": "Rolled back."})
    git = doc("Agent", "sales", {"instructions": "Sell.", "greeting": "Next change in git."})
    plan = plan_of(git, live)
    (change,) = plan.held_back
    text = render_text(plan)
    assert "held back: drift" in text and "rollback by ops@runner-1 at 2026-01-02T03:04:05.000Z" in text
    assert 'spec.greeting: "Rolled back." -> "Next change in git."' in text
    doc_ = plan_json(plan)
    assert doc_["drift"] == [{"address": "agent.sales", "held_back": True, **{k: v for k, v in change.drift.items()}}]
    # actions and summary never contradict: the summary counts each change under its actions
    for action, n in doc_["summary"].items():
        if action != "drift":
            assert n == sum(action in c["actions"] for c in doc_["resource_changes"])
    assert doc_["summary"]["drift"] == 1 and doc_["has_changes"] is False


def test_provider_drift_shows_when_and_a_moved_public_url_is_not_blamed_on_anyone():
    number = doc("Number", "main", {"number": "+14155550100", "provider": "twilio"})
    live = {"number.main": meta(number, "apply", 3)}
    desired = {"number.main": ("Number", "main", number, content_hash(number))}
    console = {"number.main": {"provider": "twilio", "updated_at": "2026-03-01T10:00:00Z",
                               "differences": {"voice_url": ["https://evil.example/x", "https://new.example/twilio/voice"]}}}
    changes, _ = compute(desired, live, lambda a: {"number.main": number}, console)
    assert changes[0].drift["at"] == "2026-03-01T10:00:00Z" and changes[0].skipped
    moved = {"number.main": {"provider": "twilio", "public_url_changed": {"from": "https://old.example", "to": "https://new.example"},
                             "differences": {"voice_url": ["https://old.example/twilio/voice", "https://new.example/twilio/voice"]}}}
    changes, _ = compute(desired, live, lambda a: {"number.main": number}, moved)
    assert changes[0].drift is None and not changes[0].skipped and changes[0].actions == ["update"]
    assert "public URL changed from https://old.example to https://new.example" in changes[0].note
    assert [(f.path, f.before, f.after) for f in changes[0].fields] == [
        ("provider.voice_url", "https://old.example/twilio/voice", "https://new.example/twilio/voice")]


def test_a_number_to_create_that_the_account_does_not_hold_fails_at_plan_time():
    number = doc("Number", "main", {"number": "+14155550100", "provider": "twilio"})
    desired = {"number.main": ("Number", "main", number, content_hash(number))}
    _, errors = compute(desired, {}, lambda a: {}, {"number.main": {"provider": "twilio", "missing": True}})
    assert errors and "does not hold +14155550100" in errors[0] and "purchase: true" in errors[0]
    held = {"number.main": {"provider": "twilio", "differences": {"voice_url": ["https://old.example/v", "https://r/twilio/voice"]}}}
    changes, errors = compute(desired, {}, lambda a: {}, held)
    assert not errors and ("provider.voice_url", "https://old.example/v") in [(f.path, f.before) for f in changes[0].fields]


def test_prevent_destroy_says_cannot_be_bought_back_only_for_a_number_cb_bought():
    for purchase, said in ((False, False), (True, True)):
        number = doc("Number", "main", {"number": "+14155550100", "provider": "twilio", "purchase": purchase,
                                         "lifecycle": {"prevent_destroy": True}})
        _, errors = compute({}, {"number.main": meta(number)}, lambda a: {"number.main": number})
        assert "prevent_destroy" in errors[0] and ("cannot be bought back" in errors[0]) is said
