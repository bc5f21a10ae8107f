"""Issue 19: the call list finds the calls the compliance policies refused (a refused decision
on the record), beside the other filters."""

from __future__ import annotations

from cb.runner.calls.records import CallRecord, CallRecords
from cb.runner.ui import listing

from tests.support.fleet import store  # noqa: F401  (fixture)


def test_the_list_filters_compliance_refusals(store, tmp_path):  # noqa: F811
    records = CallRecords.for_store(store)
    for call_id, outcome in (("call_ok", "allowed"), ("call_refused", "refused")):
        records.create(CallRecord(id=call_id, agent="agent.front-desk", agent_revision="abc", state_serial=1,
                                  direction="outbound", from_number="+14155550100", to_number="+15550001111",
                                  number="number.main", provider_call_id=None,
                                  compliance=[{"rule": "calling_window", "policy": "us", "outcome": "allowed", "detail": "ok"},
                                              {"rule": "do_not_call", "policy": "us", "outcome": outcome, "detail": "x"}]))
    every = listing.calls(tmp_path / "state", {})
    assert {c["id"] for c in every["calls"]} == {"call_ok", "call_refused"}
    refused = listing.calls(tmp_path / "state", {"refused": "1"})
    assert [(c["id"], c["refusals"]) for c in refused["calls"]] == [("call_refused", 1)]
