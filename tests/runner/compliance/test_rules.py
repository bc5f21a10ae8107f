"""Each compliance rule alone, on fixed dates (no real clock): windows in the callee's zone, DST
change days in two zones, several and unknown zones, holidays, weekdays, per-state rules, do-not-
call, consent, attempts and pacing."""

from __future__ import annotations

from datetime import datetime, timezone

from cb.runner.compliance.rules import DAYS, Contact, Policy, judge, verdict
from cb.runner.compliance.zones import state_for, zones_for

ALL = list(DAYS)
FEDERAL = {"calling_windows": [{"days": ALL, "start": "08:00", "end": "21:00"}]}
NY, LA, SD, FL, UK = "+12125550100", "+14155550100", "+16055550100", "+13055550100", "+447700900123"


def at(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def outcome(number, spec, when, **kw):
    decisions = judge(Contact(number, **kw), [Policy("p", spec, frozenset(spec.get("_dnc", ())))], when)
    result, why = verdict(decisions)
    return result, why, decisions


def test_zones_and_states_come_from_phonenumbers():
    assert zones_for(NY) == ("America/New_York",)
    assert set(zones_for(SD)) == {"America/Denver", "America/North_Dakota/Center"}
    assert zones_for(UK) == ()  # Etc/Unknown
    assert zones_for(UK, "Europe/London") == ("Europe/London",)
    assert (state_for(FL), state_for(NY), state_for(UK)) == ("FL", "NY", None)


def test_window_in_the_callees_time_not_ours():
    # 12:30 UTC on a winter Monday: 07:30 in New York (closed), 04:30 in Los Angeles (closed)
    assert outcome(NY, FEDERAL, at(2026, 1, 12, 12, 30))[0] == "wait"
    assert outcome(NY, FEDERAL, at(2026, 1, 12, 13, 0))[0] == "allowed"  # 08:00 EST
    result, why, _ = outcome(LA, FEDERAL, at(2026, 1, 12, 13, 0))
    assert result == "wait" and why.until == at(2026, 1, 12, 16, 0)  # 08:00 PST
    assert outcome(NY, FEDERAL, at(2026, 1, 13, 1, 59))[0] == "allowed"  # 20:59 EST
    assert outcome(NY, FEDERAL, at(2026, 1, 13, 2, 0))[0] == "wait"  # 21:00 EST


def test_dst_spring_forward_in_new_york_and_fall_back_in_los_angeles():
    # 2026-03-08: clocks go 02:00 -> 03:00 in New York, so 08:00 EDT is 12:00 UTC (13:00 the day before)
    assert outcome(NY, FEDERAL, at(2026, 3, 7, 12, 59))[0] == "wait"
    assert outcome(NY, FEDERAL, at(2026, 3, 7, 13, 0))[0] == "allowed"
    result, why, _ = outcome(NY, FEDERAL, at(2026, 3, 8, 11, 59))
    assert result == "wait" and why.until == at(2026, 3, 8, 12, 0)
    assert outcome(NY, FEDERAL, at(2026, 3, 8, 12, 0))[0] == "allowed"
    # 2026-11-01: Los Angeles falls back 02:00 -> 01:00, so 08:00 PST is 16:00 UTC (15:00 the day before)
    assert outcome(LA, FEDERAL, at(2026, 10, 31, 15, 0))[0] == "allowed"
    result, why, _ = outcome(LA, FEDERAL, at(2026, 11, 1, 15, 30))
    assert result == "wait" and why.until == at(2026, 11, 1, 16, 0)
    # 21:00 PST on the change day is 05:00 UTC the next day
    assert outcome(LA, FEDERAL, at(2026, 11, 2, 4, 59))[0] == "allowed"
    assert outcome(LA, FEDERAL, at(2026, 11, 2, 5, 0))[0] == "wait"


def test_several_zones_allow_only_hours_open_in_all():
    # 605: Denver (MT) and North_Dakota/Center (CT): 08:00 CT is 07:00 MT -> wait for 08:00 MT
    result, why, _ = outcome(SD, FEDERAL, at(2026, 1, 12, 14, 0))
    assert result == "wait" and why.until == at(2026, 1, 12, 15, 0)
    # 20:30 MT is 21:30 CT: closed in one of them
    assert outcome(SD, FEDERAL, at(2026, 1, 13, 3, 30))[0] == "wait"


def test_unknown_zone_is_refused_unless_strictest():
    result, why, _ = outcome(UK, FEDERAL, at(2026, 1, 12, 15, 0))
    assert result == "refused" and why.rule == "time_zone"
    strict = {**FEDERAL, "unknown_time_zone": "strictest"}
    # open only when open from New York to Honolulu: 08:00 HST = 18:00 UTC, 21:00 EST = 02:00 UTC
    assert outcome(UK, strict, at(2026, 1, 12, 17, 59))[0] == "wait"
    assert outcome(UK, strict, at(2026, 1, 12, 18, 0))[0] == "allowed"
    assert outcome(UK, strict, at(2026, 1, 13, 2, 0))[0] == "wait"
    assert outcome(UK, FEDERAL, at(2026, 1, 12, 12, 0), tz="Europe/London")[0] == "allowed"


def test_a_toll_free_number_with_zones_from_guam_to_st_johns_is_never_open_in_business_hours():
    business = {"calling_windows": [{"days": ALL, "start": "09:00", "end": "17:00"}]}
    result, why, _ = outcome("+18005550100", business, at(2026, 1, 12, 15, 0))
    assert result == "refused" and why.rule == "calling_window" and "next 8 days" in why.detail
    # 08:00-21:00 in all 42 zones leaves 22:00-00:30 UTC (Guam's morning, St John's evening)
    result, why, _ = outcome("+18005550100", FEDERAL, at(2026, 1, 12, 15, 0))
    assert result == "wait" and why.until == at(2026, 1, 12, 22, 0)


def test_weekdays_holidays_and_stricter_states():
    weekdays = {"calling_windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}],
                "holidays": ["2026-07-03"]}
    result, why, _ = outcome(NY, weekdays, at(2026, 1, 10, 15, 0))  # Saturday
    assert result == "wait" and why.until == at(2026, 1, 12, 14, 0)  # Monday 09:00 EST
    result, why, _ = outcome(NY, weekdays, at(2026, 7, 3, 15, 0))  # a Friday holiday
    assert result == "wait" and why.until == at(2026, 7, 6, 13, 0)  # Monday 09:00 EDT
    states = {**FEDERAL, "states": {"FL": {"calling_windows": [{"days": ALL, "start": "08:00", "end": "20:00"}]},
                                    "NY": {"calling_windows": [{"days": ALL[:6], "start": "08:00", "end": "21:00"}]}}}
    when = at(2026, 1, 13, 1, 30)  # Monday 20:30 EST
    assert outcome(FL, states, when)[0] == "wait"  # Florida: 8-8
    assert outcome(NY, states, when)[0] == "allowed"
    assert outcome(NY, states, at(2026, 1, 11, 15, 0))[0] == "wait"  # this policy's NY: no Sundays


def test_do_not_call_and_consent_refuse():
    spec = {**FEDERAL, "do_not_call": [{"type": "numbers", "numbers": [NY]}], "_dnc": [NY]}
    result, why, _ = outcome(NY, spec, at(2026, 1, 12, 15, 0))
    assert result == "refused" and why.rule == "do_not_call"
    assert outcome(LA, spec, at(2026, 1, 12, 18, 0))[0] == "allowed"
    consent = {**FEDERAL, "consent": {"required": True}}
    result, why, _ = outcome(NY, consent, at(2026, 1, 12, 15, 0))
    assert result == "refused" and why.rule == "consent"
    result, _, decisions = outcome(NY, consent, at(2026, 1, 12, 15, 0),
                                   consent={"when": "2026-01-02", "how": "web form", "by": "crm"})
    assert result == "allowed" and "web form" in decisions[0].detail


class Log:
    def __init__(self, made=(), started=(), running=0):
        self.made, self.started_, self.running = list(made), list(started), running

    def attempts(self, number, policy, since):
        return [t for t in self.made if t > since]

    def started(self, policy, since):
        return [t for t in self.started_ if t > since]

    def in_progress(self, policy):
        return self.running


def test_attempts_and_pacing_wait_until_the_limit_frees():
    now = at(2026, 1, 12, 15, 0)
    spec = {**FEDERAL, "attempts": {"max_per_number": 3, "window_hours": 24}}
    history = Log(made=[now - 23 * 3600, now - 3600, now - 60])
    result, why = verdict(judge(Contact(NY), [Policy("p", spec)], now, history))
    assert result == "wait" and why.rule == "attempts" and why.until == now + 3600
    assert verdict(judge(Contact(NY), [Policy("p", spec)], now, Log(made=[now - 60])))[0] == "allowed"
    pacing = {"pacing": {"max_calls_per_minute": 2, "max_concurrent": 5}}
    result, why = verdict(judge(Contact(NY), [Policy("p", pacing)], now, Log(started=[now - 50, now - 10])))
    assert result == "wait" and why.rule == "pacing" and why.until == now + 10
    result, why = verdict(judge(Contact(NY), [Policy("p", pacing)], now, Log(running=5)))
    assert result == "wait" and "in progress" in why.detail


def test_every_decision_is_recorded_allowed_ones_too():
    decisions = judge(Contact(FL), [Policy("us", {**FEDERAL, "attempts": {"max_per_number": 3}, "pacing": {"max_concurrent": 5}})], at(2026, 1, 12, 15, 0))
    assert [(d.rule, d.outcome) for d in decisions] == [
        ("time_zone", "allowed"), ("calling_window", "allowed"), ("attempts", "allowed"), ("pacing", "allowed")]
    assert all(d.policy == "us" and d.detail for d in decisions)


def test_a_daily_and_a_rolling_week_limit_hold_together():
    # Tuesday 2026-01-13 15:00 UTC = 10:00 in New York
    now = at(2026, 1, 13, 15, 0)
    spec = {**FEDERAL, "attempts": {"max_per_number": 3, "window_hours": 168, "max_per_day": 1}}
    # one call earlier today (New York's day): the daily limit waits until New York's next midnight
    result, why = verdict(judge(Contact(NY), [Policy("p", spec)], now, Log(made=[now - 3600])))
    assert result == "wait" and why.rule == "attempts" and "a day" in why.detail
    assert why.until == at(2026, 1, 14, 5, 0)
    # yesterday's call does not count against today, but three this week do: the week waits
    assert verdict(judge(Contact(NY), [Policy("p", spec)], now, Log(made=[now - 20 * 3600])))[0] == "allowed"
    week = [now - 6 * 86400, now - 3 * 86400, now - 86400]
    result, why = verdict(judge(Contact(NY), [Policy("p", spec)], now, Log(made=week)))
    assert result == "wait" and "168 h" in why.detail and why.until == now + 86400
    # South Dakota's 605 is Denver and North Dakota Center: "today" began at the earlier midnight
    sd_now = at(2026, 1, 13, 18, 0)
    made = [at(2026, 1, 13, 6, 30)]  # 23:30 in Denver on the 12th, 00:30 in Central on the 13th
    result, why = verdict(judge(Contact(SD), [Policy("p", spec)], sd_now, Log(made=made)))
    assert result == "wait" and why.until == at(2026, 1, 14, 7, 0)  # Denver's next midnight


def test_pacing_per_second():
    now = at(2026, 1, 12, 15, 0)
    pacing = {"pacing": {"max_calls_per_minute": 100, "max_concurrent": 50, "max_calls_per_second": 2}}
    result, why = verdict(judge(Contact(NY), [Policy("p", pacing)], now, Log(started=[now - 0.5, now - 0.2])))
    assert result == "wait" and "last second" in why.detail and why.until == now + 0.5
    assert verdict(judge(Contact(NY), [Policy("p", pacing)], now, Log(started=[now - 1.5, now - 0.2])))[0] == "allowed"
