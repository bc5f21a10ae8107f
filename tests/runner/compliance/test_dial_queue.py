"""The dial queue on the runner's real state database: leased like the outbox (never two dialers
at once, taken again after a dead dialer's lease), durable across restarts, limits held across
two dialers on one database, and a 1,000-number campaign over every US zone and a simulated week
with zero violations. The provider is the one stand-in: it records each dial and ends the call."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import datetime, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from cb.contracts.outbound_call import OutboundCallRequest
from cb.runner.compliance.clock import FixedClock
from cb.runner.compliance.dialing import Dialing
from cb.runner.compliance.queue import DialQueue
from cb.runner.compliance.zones import state_for, zones_for
from cb.state import open_store
from tests.support.pg import pg_server, pg_url  # noqa: F401  (fixtures)

ALL = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
POLICY = {
    "calling_windows": [{"days": ALL, "start": "08:00", "end": "21:00"}],
    "states": {"FL": {"calling_windows": [{"days": ALL, "start": "08:00", "end": "20:00"}],
                      "attempts": {"max_per_number": 3, "window_hours": 24}}},
    "do_not_call": [{"type": "numbers", "numbers": ["+12125550199"]}],
    "attempts": {"max_per_number": 2, "window_hours": 24},
    "pacing": {"max_calls_per_minute": 30, "max_concurrent": 10},
}
# One area code per zone, Eastern to Hawaii (phonenumbers maps each to one zone).
AREAS = {"212": "America/New_York", "305": "America/New_York", "312": "America/Chicago",
         "303": "America/Denver", "602": "America/Phoenix", "415": "America/Los_Angeles",
         "907": None, "808": "Pacific/Honolulu"}


class Provider:
    """Stands in for Outbound: checks nothing, records each dial with the clock's time."""

    def __init__(self, clock, store, log):
        self.clock, self.log = clock, log
        self.service = SimpleNamespace(store=store)
        self.n = 0
        self.ended: list[str] = []

    def check(self, req, snapshot):
        return "+14155550100", "local", {}

    async def place(self, req, compliance=None):
        self.n += 1
        self.log.append((req.to, self.clock.now(), compliance))
        self.ended.append(f"call-{self.n}")  # the call ends before the next tick
        return {"id": f"call-{self.n}"}, 201


def snapshot(spec):
    rev = lambda content: SimpleNamespace(content=content)  # noqa: E731
    return SimpleNamespace(resources={"agent.a": rev({"spec": {"compliance": ["us"]}}),
                                      "compliance_policy.us": rev({"spec": spec})})


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    """Where the queue lives: (state folder, url). The queue tests run on both databases."""
    if request.param == "sqlite":
        return (tmp_path / "state", None)
    return (tmp_path / "state", request.getfixturevalue("pg_url"))


def dialer(db, clock, log, spec=POLICY):
    store = open_store(*db)
    store.snapshot = lambda: snapshot(spec)
    d = Dialing(Provider(clock, store, log), DialQueue.for_store(store), clock=clock)
    return d, store


def req(to, **kw):
    return OutboundCallRequest(agent="a", to=to, **kw)


def monday(hour, minute=0):
    return datetime(2026, 1, 12, hour, minute, tzinfo=timezone.utc)


def test_a_lease_is_held_by_one_dialer_and_taken_again_after_it_expires(db):
    clock = FixedClock(monday(15))
    a, store = dialer(db, clock, [])
    b = DialQueue.for_store(open_store(*db))  # a second connection: another process
    qid = a.queue.enqueue(agent="agent.a", to="+12125550100", request=req("+12125550100").model_dump(by_alias=True),
                          tz=None, consent=None, now=clock.now())
    assert [e.id for e in a.queue.claim("one", 60, clock.now())] == [qid]
    assert b.claim("two", 60, clock.now()) == []
    assert b.claim("two", 60, clock.now() + 61)[0].id == qid  # "one" died: its lease ran out
    assert not a.queue.settle(qid, "one", "dialled", now=clock.now(), decisions=[], reason=None)  # lost it


def test_waiting_calls_survive_a_restart_and_limits_hold_after_it(db):
    clock, log = FixedClock(monday(12)), []  # 07:00 in New York: wait
    a, store = dialer(db, clock, log)
    body, status = asyncio.run(a.submit(req("+12125550100")))
    assert status == 202 and "calling_window" in body["queued"]["reason"]
    assert body["queued"]["not_before"] == monday(13).timestamp()
    result, code = asyncio.run(a.submit(req("+12125550199")))
    assert code == 403 and result["compliance"][-1]["rule"] == "do_not_call"
    store.close()
    b, _ = dialer(db, clock, log)  # the runner restarted
    assert [e.to_number for e in b.queue.list()] == ["+12125550100"]
    clock.set(monday(13))
    asyncio.run(b.tick())
    assert [(to, t) for to, t, _ in log] == [("+12125550100", monday(13).timestamp())]
    assert [d["rule"] for d in log[0][2]] == ["do_not_call", "time_zone", "calling_window", "attempts", "pacing"]
    asyncio.run(b.submit(req("+12125550100")))
    third = asyncio.run(b.submit(req("+12125550100")))[0]  # 2 in 24 h: the third waits a day
    assert "attempts" in third["queued"]["reason"] and len(log) == 2


def test_two_dialers_on_one_database_never_dial_a_number_twice_and_share_the_pacing(db):
    clock, log = FixedClock(monday(18)), []
    spec = {**POLICY, "pacing": {"max_calls_per_minute": 5, "max_concurrent": 100}}
    a, _ = dialer(db, clock, log, spec)
    b, _ = dialer(db, clock, log, spec)
    asyncio.run(a.submit_many([req(f"+1212555{i:04d}") for i in range(12)]))

    async def both():
        await asyncio.gather(a.tick(), b.tick())

    for _ in range(3):
        asyncio.run(both())
        clock.advance(61)
        asyncio.run(both())
    counts = Counter(to for to, _, _ in log)
    assert len(log) == 12 and max(counts.values()) == 1
    per_minute = Counter(int(t // 60) for _, t, _ in log)
    assert max(per_minute.values()) <= 5


@pytest.mark.slow
def test_a_campaign_of_1000_numbers_over_every_us_zone_and_a_week_has_no_violation(tmp_path):
    rng = random.Random(13)
    clock, log = FixedClock(datetime(2026, 3, 6, 0, 0, tzinfo=timezone.utc)), []  # spans the DST change
    d, _ = dialer((tmp_path / "state", None), clock, log)
    numbers = []
    for i in range(1000):
        area = rng.choice(list(AREAS))
        numbers.append(f"+1{area}555{i:04d}")
    numbers[7] = "+12125550199"  # on the do-not-call list
    asyncio.run(d.submit_many([req(n) for n in numbers]))
    waited = 0
    end = clock.now() + 7 * 86400
    while clock.now() < end and len(log) < 999:
        handled = asyncio.run(d.tick())
        for call_id in d.outbound.ended:
            d.queue.call_ended(call_id, clock.now())
        d.outbound.ended.clear()
        if not handled:  # nothing due: jump to the next due entry, a minute at least
            due = min((e.not_before for e in d.queue.list(("waiting",), limit=2000)), default=end)
            clock.set(datetime.fromtimestamp(max(due, clock.now() + 60), timezone.utc))
    for to, t, _ in log:
        for zone in zones_for(to):
            local = datetime.fromtimestamp(t, ZoneInfo(zone))
            last = 20 if state_for(to) == "FL" else 21
            assert 8 <= local.hour < last, (to, local)
    assert len(log) == len(set(to for to, _, _ in log)) == 999
    assert "+12125550199" not in {to for to, _, _ in log}
    per_minute = Counter(int(t // 60) for _, t, _ in log)
    assert max(per_minute.values()) <= 30
    entries = d.queue.list(("dialled", "refused", "waiting"), limit=2000)
    waited = sum(any(x["rule"] == "calling_window" and x["outcome"] == "wait" for x in e.decisions) or
                 e.created_at < e.updated_at - 60 for e in entries)
    refused = Counter(e.reason.split(" ")[0] for e in entries if e.status == "refused")
    print(f"campaign: dialled {len(log)}, refused {dict(refused)}, waited {waited}")
    assert refused == {"do_not_call": 1}
