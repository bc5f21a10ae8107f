"""Admission is atomic: webhooks admitted at once in worker threads never take more than max_calls,
however long each spends pinning and rendering after the capacity check."""

from __future__ import annotations

import threading
import time

import pytest

from cb.runner.calls import service as service_module
from cb.runner.calls.metrics import CallMetrics
from cb.runner.calls.records import CallRecords
from cb.runner.calls.service import CallService, Refused

from tests.support.fleet import commit_fleet


@pytest.fixture
def calls(store, tmp_path, monkeypatch):
    commit_fleet(store, tmp_path)
    svc = CallService(store, CallRecords.for_store(store), CallMetrics(), default_profile="local",
                      max_calls=3, drain_secs=1)
    svc.warm = True
    slow = service_module.plan_call

    def plan_call(*args, **kwargs):  # the window: pinning and rendering take a while
        time.sleep(0.2)
        return slow(*args, **kwargs)
    monkeypatch.setattr(service_module, "plan_call", plan_call)
    return svc


def admit(svc, sid):
    return svc.admit(to_number="+14155550100", from_number=None, direction="inbound", via="local",
                     provider_call_id=sid, account_sid=None)


def test_two_admits_at_max_calls_minus_one_take_one_place_between_them(calls):
    admit(calls, "CA0")
    admit(calls, "CA1")  # two of three taken
    start, results = threading.Barrier(2), {}

    def one(sid):
        start.wait()
        try:
            results[sid] = admit(calls, sid).call_id
        except Refused as exc:
            results[sid] = exc.reason
    threads = [threading.Thread(target=one, args=(sid,)) for sid in ("CA2", "CA3")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    admitted = [r for r in results.values() if r.startswith("call_")]
    assert len(admitted) == 1 and len(calls.pending) == 3, results
    assert [r for r in results.values() if not r.startswith("call_")] == ["at capacity (3 calls)"]


def test_a_failed_admit_gives_its_place_back_and_a_claim_hands_it_to_the_session(calls):
    with pytest.raises(Exception):
        calls.admit(to_number="+19999999999", from_number=None, direction="inbound", via="local",
                    provider_call_id="CAx", account_sid=None)  # not routable
    assert calls._reserved == 0 and calls.readiness() == (True, "ok")
    plan = admit(calls, "CAy")
    pending = calls.claim(plan.call_id, "CAy", session_for=lambda p: "session")
    assert pending.plan is plan and calls.sessions == {plan.call_id: "session"} and not calls.pending
