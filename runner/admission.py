"""Admission: refuse a new call before the calls in progress degrade, judged by what callers feel.

One ``Signal`` per call service (one per worker process) gathers, at almost no cost per frame:

- outbound pacing: each agent frame sent to a caller is due when the audio before it has played;
  one sent more than ``miss_ms`` after that is a deadline miss (the caller hears a gap);
- input backlog: how far behind its own clock the runner reads a caller's frames (``media``
  ``timestamp`` against arrival, relative to the stream's best arrival);
- event-loop lag: how late a 100 ms timer fires (fed by the call service's watcher);
- CPU: the event loop thread's CPU time per wall second, and per call in progress.

Every ``tick`` (100 ms) folds the counts into averages over about ``WINDOW_S`` seconds.
``decide`` turns a ``Reading`` into admit or refuse. It refuses when a caller-facing signal
crosses an early threshold (set well below where calls are heard to degrade), or when one more
call would take the event loop past its CPU budget (``CB_ADMIT_CPU``, 0.7 of its core): that ceiling
is ``cpu_budget`` divided by the measured CPU of one call, found by measurement, not configured. ``max_calls`` stays as
a hard cap above it. Thresholds come from the environment (``Limits.from_env``); ``CB_ADMISSION=off``
keeps only the hard cap (for a benchmark that looks for the raw ceiling itself).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Callable

WINDOW_S = 2.0  # the averages' time constant: one slow tick is not overload
IDLE_WINDOW_S = 30.0  # the idle cost rises this slowly (it falls at once)
NEW_BURST_S = 0.3  # an agent frame this late starts a new utterance (a pause), not a miss


@dataclass(frozen=True)
class Limits:
    max_calls: int = 500  # hard cap, whatever the measurement says
    # Of the event loop's thread: the projected load one more call may reach (CB_ADMIT_CPU; 0 turns it
    # off). The loop's own CPU, not the process's: Whisper, Piper and the VAD batch run on threads of
    # their own, and counted in, a transcription's burst made one local-stack call look like a core
    # (it refused the second). Set from the concurrency ladder on 2 cores: the loop holds 50 calls
    # within target and breaks at 60, and at 1.5x that the caller-facing signals below react only
    # once every call is in (they are smoothed over seconds; calls arrived 10 a second).
    cpu_budget: float | None = 0.7
    miss_ms: float = 40.0  # an agent frame later than this past its due time is a pacing miss
    miss_rate: float = 0.02  # refuse while more than this share of agent frames miss
    backlog_ms: float = 150.0  # refuse while callers' frames are read this late
    loop_lag_ms: float = 250.0  # refuse while the event loop runs this late (smoothed); pacing and backlog see it first
    measured: bool = True  # False (CB_ADMISSION=off): the hard cap alone

    @classmethod
    def from_env(cls, max_calls: int, loop_lag_ms: float | None = None,
                 env: dict[str, str] | None = None) -> "Limits":
        env = os.environ if env is None else env

        def num(name: str, default: float) -> float:
            try:
                return float(env[name]) if env.get(name) else default
            except ValueError:
                raise ValueError(f"{name}={env[name]!r} is not a number") from None

        return cls(max_calls=max_calls, cpu_budget=num("CB_ADMIT_CPU", cls.cpu_budget or 0.0) or None,
                   miss_ms=num("CB_ADMIT_MISS_MS", cls.miss_ms), miss_rate=num("CB_ADMIT_MISS_RATE", cls.miss_rate),
                   backlog_ms=num("CB_ADMIT_BACKLOG_MS", cls.backlog_ms),
                   loop_lag_ms=loop_lag_ms if loop_lag_ms is not None else num("CB_ADMIT_LOOP_LAG_MS", cls.loop_lag_ms),
                   measured=env.get("CB_ADMISSION", "on").lower() not in ("off", "0", "false", "no"))


@dataclass(frozen=True)
class Reading:
    """The worker's state as callers feel it, smoothed over ``WINDOW_S``."""

    calls: int
    miss_rate: float = 0.0  # share of agent frames sent late
    backlog_ms: float = 0.0  # worst input backlog of the last window
    loop_lag_ms: float = 0.0
    cpu: float = 0.0  # cores the event loop's thread used
    cpu_per_call: float | None = None  # measured; None until a call has run

    def ceiling_for(self, budget: float | None) -> int | None:
        if not self.cpu_per_call or not budget:
            return None
        return max(1, math.floor(budget / self.cpu_per_call))

    def to_dict(self, limits: Limits) -> dict[str, float | int | None]:
        return {"calls": self.calls, "pacing_miss_rate": round(self.miss_rate, 4),
                "input_backlog_ms": round(self.backlog_ms, 1), "loop_lag_ms": round(self.loop_lag_ms, 1),
                "cpu_cores": round(self.cpu, 3),
                "cpu_per_call": None if self.cpu_per_call is None else round(self.cpu_per_call, 4),
                "ceiling": self.ceiling_for(limits.cpu_budget) if limits.measured else None,
                "max_calls": limits.max_calls}


@dataclass(frozen=True)
class Decision:
    admit: bool
    reason: str  # a short label for the metric: ok | max_calls | pacing | input_backlog | loop_lag | ceiling
    detail: str  # the sentence for /readyz and the log


def decide(reading: Reading, limits: Limits) -> Decision:
    """Admit one more call, or refuse it with the first reason that holds."""
    n = reading.calls
    if n >= limits.max_calls:
        return Decision(False, "max_calls", f"at capacity ({n} calls)")
    if not limits.measured:
        return Decision(True, "ok", "ok")
    if reading.miss_rate > limits.miss_rate:
        return Decision(False, "pacing", f"overloaded: {reading.miss_rate:.1%} of agent audio frames sent over "
                        f"{limits.miss_ms:.0f} ms late (limit {limits.miss_rate:.1%})")
    if reading.backlog_ms > limits.backlog_ms:
        return Decision(False, "input_backlog", f"overloaded: callers' audio read {reading.backlog_ms:.0f} ms late "
                        f"(limit {limits.backlog_ms:.0f} ms)")
    if reading.loop_lag_ms > limits.loop_lag_ms:
        return Decision(False, "loop_lag", f"overloaded: event loop {reading.loop_lag_ms:.0f} ms late "
                        f"(limit {limits.loop_lag_ms:.0f} ms)")
    ceiling = reading.ceiling_for(limits.cpu_budget)
    if ceiling is not None and n + 1 > ceiling:
        return Decision(False, "ceiling", f"at the measured ceiling: {n} calls at {reading.cpu_per_call:.1%} of a "
                        f"core each, {limits.cpu_budget:.0%} of a core allows {ceiling}")
    return Decision(True, "ok", "ok")


class Pacer:
    """One call's outbound pacing: each agent frame is due once the audio sent before it has played."""

    __slots__ = ("signal", "due")

    def __init__(self, signal: "Signal"):
        self.signal, self.due = signal, 0.0

    def sent(self, seconds: float, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        late = now - self.due
        if late > NEW_BURST_S:  # a pause between utterances: this frame starts a new one
            self.due = now + seconds
            self.signal.frames += 1
            return
        self.signal.frames += 1
        if late * 1000 > self.signal.limits.miss_ms:
            self.signal.missed += 1
        self.due = max(self.due, now) + seconds  # sent early, it waits in the far end's buffer


class Backlog:
    """One call's input backlog: arrival against the caller's own timestamps."""

    __slots__ = ("signal", "best")

    def __init__(self, signal: "Signal"):
        self.signal, self.best = signal, math.inf

    def received(self, timestamp_ms: float, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        offset = now - timestamp_ms / 1000
        self.best = min(self.best, offset)
        backlog = offset - self.best
        if backlog > self.signal.backlog_peak:
            self.signal.backlog_peak = backlog


class Signal:
    """The worker's admission signal; streams report into it, ``tick`` smooths, ``reading`` reads."""

    def __init__(self, limits: Limits | None = None, clock: Callable[[], float] = time.monotonic,
                 cpu_clock: Callable[[], float] = time.thread_time):  # ticked on the loop: the loop's CPU
        self.limits = limits or Limits()
        self.clock, self.cpu_clock = clock, cpu_clock
        self.frames = self.missed = 0  # agent frames since the last tick
        self.backlog_peak = 0.0
        self.miss_rate = self.backlog = self.lag = self.cpu = 0.0
        self.idle_cpu: float | None = None  # the loop's own cost with no call
        self.per_call: float | None = None
        self._last = clock()
        self._last_cpu = cpu_clock()
        self._sent = self._late = 0.0  # decaying sums of frames and misses

    def pacer(self) -> Pacer:
        return Pacer(self)

    def backlog_of(self) -> Backlog:
        return Backlog(self)

    def tick(self, calls: int, loop_lag: float) -> None:
        now, cpu_now = self.clock(), self.cpu_clock()
        dt = now - self._last
        if dt <= 0:
            return
        keep = math.exp(-dt / WINDOW_S)
        self._sent = self._sent * keep + self.frames
        self._late = self._late * keep + self.missed
        self.miss_rate = self._late / self._sent if self._sent >= 50 else 0.0  # a second of one call, at least
        self.backlog = max(self.backlog_peak * 1000, self.backlog * keep)
        self.lag = loop_lag * 1000
        used = max(0.0, (cpu_now - self._last_cpu) / dt)
        self.cpu = self.cpu * keep + used * (1 - keep)
        if calls == 0:
            # The floor of the loop's own cost: a start-up or an apply costs a burst of CPU that
            # is no call's, and an idle figure that kept it would hide what a call costs. Down at
            # once, up only slowly.
            if self.idle_cpu is None or used < self.idle_cpu:
                self.idle_cpu = used
            else:
                slow = math.exp(-dt / IDLE_WINDOW_S)
                self.idle_cpu = self.idle_cpu * slow + used * (1 - slow)
        else:
            sample = max(0.0, self.cpu - (self.idle_cpu or 0.0)) / calls
            self.per_call = sample if self.per_call is None else self.per_call * keep + sample * (1 - keep)
        self.frames = self.missed = 0
        self.backlog_peak = 0.0
        self._last, self._last_cpu = now, cpu_now

    def reading(self, calls: int) -> Reading:
        return Reading(calls=calls, miss_rate=self.miss_rate, backlog_ms=self.backlog, loop_lag_ms=self.lag,
                       cpu=self.cpu, cpu_per_call=self.per_call)

    def decide(self, calls: int) -> Decision:
        return decide(self.reading(calls), self.limits)
