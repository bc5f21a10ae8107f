"""A CompliancePolicy's rules judged for one contact at one instant: pure, so tests pin dates.

``judge(contact, policies, at, history)`` returns every decision (``Decision``: rule, policy,
outcome, detail) in a fixed order, allowed ones too, so the record shows what was checked:

1. ``consent``: the policy requires consent evidence and the contact carries none -> refused.
2. ``do_not_call``: the number is on one of the policy's lists -> refused (never dialled).
3. ``time_zone``: no candidate zone (and ``unknown_time_zone`` is not ``strictest``) -> refused.
4. ``calling_window``: now is outside the windows in any candidate zone, or a holiday there
   (the policy's and the callee's state's, intersected) -> wait until the next opening, found by
   stepping through the next 8 days; none -> refused.
5. ``attempts``: the policy's (and the state's) limit of calls to this number in the rolling
   window is reached -> wait until the oldest counted attempt leaves the window; and, with
   ``max_per_day``, the calls since the callee's local midnight (the earliest of every candidate
   zone's) -> wait until the next local midnight (the latest). Both limits hold together.
6. ``pacing``: calls started under this policy in the last second (``max_calls_per_second``) or
   minute, or calls in progress, are at the limit -> wait.

Local time is computed from the instant in each zone (``zoneinfo``), so a daylight-saving change
day is right by construction: 8 a.m. on the day clocks spring forward is 7 hours after midnight.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Protocol
from zoneinfo import ZoneInfo

from . import zones as zonemod

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
STEP = 15 * 60  # coarse search step: every zone offset is a multiple of 15 minutes
HORIZON = 8 * 24 * 3600  # a week and a day: if no minute opens by then, none ever will


@dataclass(frozen=True)
class Decision:
    rule: str
    policy: str
    outcome: str  # allowed | wait | refused
    detail: str
    until: float | None = None  # wait: the earliest instant worth asking again

    def to_dict(self) -> dict[str, Any]:
        out = {"rule": self.rule, "policy": self.policy, "outcome": self.outcome, "detail": self.detail}
        if self.until is not None:
            out["until"] = datetime.fromtimestamp(self.until, timezone.utc).isoformat(timespec="seconds")
        return out


@dataclass(frozen=True)
class Contact:
    number: str
    tz: str | None = None
    consent: dict[str, Any] | None = None


class History(Protocol):
    def attempts(self, number: str, policy: str, since: float) -> list[float]: ...
    def started(self, policy: str, since: float) -> list[float]: ...
    def in_progress(self, policy: str) -> int: ...


@dataclass
class NoHistory:
    def attempts(self, number: str, policy: str, since: float) -> list[float]:
        return []

    def started(self, policy: str, since: float) -> list[float]:
        return []

    def in_progress(self, policy: str) -> int:
        return 0


@dataclass
class Policy:
    """A CompliancePolicy's spec (plain dict, as applied) with its name and do-not-call numbers."""

    name: str
    spec: dict[str, Any]
    dnc: frozenset[str] = frozenset()
    dnc_errors: list[str] = field(default_factory=list)


def _minutes(clock: str) -> int:
    h, m = clock.split(":")
    return int(h) * 60 + int(m)


def _open_in(windows: list[dict[str, Any]], local: datetime) -> bool:
    day = DAYS[local.weekday()]
    minute = local.hour * 60 + local.minute
    return any(day in w.get("days", DAYS[:5]) and _minutes(w.get("start", "09:00")) <= minute
               < _minutes(w.get("end", "20:00")) for w in windows)


def open_at(at: float, zones: Iterable[str], windows: list[list[dict[str, Any]]], holidays: set[str]) -> bool:
    """Open in every zone: each window set (the policy's, the state's) has a window open there,
    and the local date is not a holiday."""
    for zone in zones:
        local = datetime.fromtimestamp(at, ZoneInfo(zone))
        if local.date().isoformat() in holidays:
            return False
        if not all(_open_in(ws, local) for ws in windows if ws):
            return False
    return True


def next_open(at: float, zones: tuple[str, ...], windows: list[list[dict[str, Any]]],
              holidays: set[str]) -> float | None:
    """The first whole minute from ``at`` that is open, or None within ``HORIZON``."""
    start = (int(at) // 60) * 60
    t = start
    while t <= start + HORIZON:
        t += STEP - (t % STEP) if t % STEP else STEP
        if open_at(t, zones, windows, holidays):
            back = t - STEP + 60  # the opening is at a whole minute after the previous closed step
            for minute in range(max(back, start + 60), t + 1, 60):
                if open_at(minute, zones, windows, holidays):
                    return float(minute)
            return float(t)
    return None


def _window_text(windows: list[dict[str, Any]]) -> str:
    return ", ".join(f"{'/'.join(w.get('days', DAYS[:5]))} {w.get('start', '09:00')}-{w.get('end', '20:00')}"
                     for w in windows)


def judge(contact: Contact, policies: list[Policy], at: float, history: History | None = None) -> list[Decision]:
    history = history or NoHistory()
    out: list[Decision] = []
    state = zonemod.state_for(contact.number)
    for policy in policies:
        out.extend(_judge_one(contact, policy, at, history, state))
    return out


def _judge_one(contact: Contact, policy: Policy, at: float, history: History, state: str | None) -> list[Decision]:
    spec, name = policy.spec, policy.name
    out: list[Decision] = []

    def add(rule: str, outcome: str, detail: str, until: float | None = None) -> Decision:
        d = Decision(rule, name, outcome, detail, until)
        out.append(d)
        return d

    consent = spec.get("consent")
    if consent and consent.get("required", True):
        if not contact.consent:
            add("consent", "refused", "no consent evidence (when, how, by whom) came with this contact, and the "
                "policy requires prior express consent for an AI-voiced call")
            return out
        add("consent", "allowed", "consent evidence: " + ", ".join(f"{k}={v}" for k, v in contact.consent.items()))
    if spec.get("do_not_call"):
        if policy.dnc_errors:
            add("do_not_call", "refused", "a do-not-call list could not be read, so no number is called: "
                + "; ".join(policy.dnc_errors))
            return out
        if contact.number in policy.dnc:
            add("do_not_call", "refused", f"{contact.number} is on a do-not-call list of this policy")
            return out
        add("do_not_call", "allowed", f"not on this policy's do-not-call lists ({len(policy.dnc)} numbers)")
    rules = (spec.get("states") or {}).get(state or "", {}) if state else {}
    windows = [spec.get("calling_windows") or [], rules.get("calling_windows") or []]
    holidays = set(spec.get("holidays") or []) | set(rules.get("holidays") or [])
    if any(windows) or holidays:
        zones = zonemod.zones_for(contact.number, contact.tz)
        how = "explicit" if contact.tz else "from the number"
        if not zones:
            if spec.get("unknown_time_zone") != "strictest":
                add("time_zone", "refused", f"the time zone of {contact.number} is unknown: give the contact a "
                    "tz, or set unknown_time_zone: strictest")
                return out
            zones, how = zonemod.STRICTEST_ZONES, "unknown: every US zone"
        add("time_zone", "allowed", f"{', '.join(zones[:5])}{' …' if len(zones) > 5 else ''} ({how})"
            + (f"; state {state}" + (" has its own rules" if rules else "") if state else ""))
        what = _window_text(windows[0] + windows[1]) + (f"; holidays {sorted(holidays)}" if holidays else "")
        if open_at(at, zones, windows, holidays):
            add("calling_window", "allowed", f"inside {what} in every candidate zone")
        else:
            opening = next_open(at, zones, windows, holidays)
            if opening is None:
                add("calling_window", "refused", f"no minute of the next 8 days is inside {what} in every "
                    f"candidate zone ({', '.join(zones[:5])})")
                return out
            add("calling_window", "wait", f"outside {what} in the callee's time zone", opening)
            return out
    for limit, scope in ((spec.get("attempts"), "policy"), (rules.get("attempts"), f"state {state}")):
        if not limit:
            continue
        hours, most = limit.get("window_hours", 24), limit.get("max_per_number", 3)
        made = sorted(history.attempts(contact.number, name, at - hours * 3600))
        if len(made) >= most:
            add("attempts", "wait", f"{len(made)} calls to {contact.number} in the last {hours} h ({scope} "
                f"limit {most})", made[len(made) - most] + hours * 3600)
            return out
        add("attempts", "allowed", f"{len(made)} of {most} calls in {hours} h ({scope})")
        daily = limit.get("max_per_day")
        if daily:
            zones = zonemod.zones_for(contact.number, contact.tz) or zonemod.STRICTEST_ZONES
            start, end = _local_day(at, zones)
            today = history.attempts(contact.number, name, start - 0.001)
            if len(today) >= daily:
                add("attempts", "wait", f"{len(today)} calls to {contact.number} today in the callee's time zone "
                    f"({scope} limit {daily} a day)", end)
                return out
            add("attempts", "allowed", f"{len(today)} of {daily} calls today ({scope})")
    pacing = spec.get("pacing")
    if pacing:
        per_minute, concurrent = pacing.get("max_calls_per_minute", 30), pacing.get("max_concurrent", 10)
        per_second = pacing.get("max_calls_per_second")
        if per_second:
            this_second = sorted(history.started(name, at - 1))
            if len(this_second) >= per_second:
                add("pacing", "wait", f"{len(this_second)} calls started in the last second (limit {per_second})",
                    this_second[len(this_second) - per_second] + 1)
                return out
        started = sorted(history.started(name, at - 60))
        if len(started) >= per_minute:
            add("pacing", "wait", f"{len(started)} calls started in the last minute (limit {per_minute})",
                started[len(started) - per_minute] + 60)
            return out
        running = history.in_progress(name)
        if running >= concurrent:
            add("pacing", "wait", f"{running} calls in progress (limit {concurrent})", at + 2)
            return out
        add("pacing", "allowed", f"{len(started)}/{per_minute} per minute, {running}/{concurrent} at once")
    return out


def _local_day(at: float, zones: Iterable[str]) -> tuple[float, float]:
    """The callee's "today" as instants: from the earliest local midnight among the zones to the
    latest next one, so a call counts against the day in every zone it could be in."""
    starts, ends = [], []
    for zone in zones:
        local = datetime.fromtimestamp(at, ZoneInfo(zone))
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        starts.append(midnight.timestamp())
        ends.append(datetime.combine(midnight.date() + timedelta(days=1), midnight.time(),
                                     ZoneInfo(zone)).timestamp())
    return min(starts), max(ends)


def verdict(decisions: list[Decision]) -> tuple[str, Decision | None]:
    """allowed, or the first refusal, or the wait that ends last."""
    refused = next((d for d in decisions if d.outcome == "refused"), None)
    if refused:
        return "refused", refused
    waits = [d for d in decisions if d.outcome == "wait"]
    if waits:
        return "wait", max(waits, key=lambda d: d.until or 0)
    return "allowed", None
