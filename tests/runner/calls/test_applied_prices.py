"""Issue 19: cb.yaml's ``prices:`` travel with each agent as applied: the wire keeps them (and their
hash), the runner's apply refuses a malformed one, and a call is priced by the prices applied with
the agent that answered, never the defaults when an override was applied."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cb.apply.integrity import check_documents
from cb.contracts.change_wire import from_wire, to_wire
from cb.pricing import DEFAULT_PRICES
from cb.runner.calls.callplan import plan_call
from cb.runner.postcall.after_hangup import _cost
from cb.state.errors import StateError
from cb.state.store import Change
from cb.state.types import thaw

from tests.support.fleet import commit_fleet

PRICE = {"provider": "local", "model": None, "unit": "minute", "usd": 0.02, "as_of": "2026-11-01",
         "source": "https://example.org/our-carrier"}


def _with_prices(store, prices):
    live = store.snapshot().resources
    rev = live["agent.front-desk"]
    content = {**{k: v for k, v in thaw(rev.content).items() if k != "prices"}, "prices": prices}
    return store.commit([Change("agent.front-desk", "Agent", "front-desk", "update", content)],
                        source="apply", applied_by="test")


def test_prices_cross_the_wire_and_a_malformed_one_is_refused():
    content = {"apiVersion": "cb/v1", "kind": "Agent", "metadata": {"name": "desk"},
               "spec": {"instructions": "Help.", "greeting": "Hi."}, "prices": [PRICE]}
    [wired] = from_wire(to_wire([Change("agent.desk", "Agent", "desk", "create", content)]))
    assert wired.content["prices"] == [PRICE]
    check_documents({}, [wired])
    bad = {**content, "prices": [{**PRICE, "unit": "per_call"}]}
    with pytest.raises(StateError, match="agent.desk"):
        from_wire(to_wire([Change("agent.desk", "Agent", "desk", "create", bad)]))


def test_a_call_is_priced_by_the_prices_applied_with_its_agent(store, tmp_path):
    usage = SimpleNamespace(tts_characters=0, summary=lambda connected: {
        "connected_sec": connected, "stt_audio_sec": 0, "llm_tokens_in": 0, "llm_tokens_out": 0, "tts_characters": 0})
    record = SimpleNamespace(started_at="2026-11-01T10:00:00+00:00", ended_at="2026-11-01T10:01:30+00:00",
                             direction="inbound")

    def telephony_line(snapshot):
        plan = plan_call(snapshot, to_number="+14155550100", from_number=None)
        cost = _cost(plan, record, {"observers": [usage]}, "scripted", "local", DEFAULT_PRICES)
        return next(line for line in cost["lines"] if line["kind"] == "telephony")

    default = telephony_line(commit_fleet(store, tmp_path / "fleet"))
    assert default["usd"] == 0.0  # the local telephony's default: no per-use price
    priced = telephony_line(_with_prices(store, [PRICE]))
    assert priced["usd"] == round(1.5 * 0.02, 6) and priced["source"] == "cb.yaml: https://example.org/our-carrier"
