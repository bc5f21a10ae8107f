"""The admission signal's decisions (cb.runner.admission): what callers feel, folded into admit or refuse."""

from __future__ import annotations

import pytest

from cb.runner.admission import Limits, Reading, Signal, decide


class Clocks:
    """A wall clock and a CPU clock the test moves by hand."""

    def __init__(self) -> None:
        self.wall = 100.0
        self.cpu = 10.0

    def advance(self, seconds: float, cpu_cores: float) -> None:
        self.wall += seconds
        self.cpu += seconds * cpu_cores


def signal_with(clocks: Clocks, **limits: float) -> Signal:
    return Signal(Limits(**limits), clock=lambda: clocks.wall, cpu_clock=lambda: clocks.cpu)


def run_for(signal: Signal, clocks: Clocks, seconds: float, *, calls: int, cpu_cores: float, lag: float = 0.0) -> None:
    for _ in range(int(seconds / 0.1)):
        clocks.advance(0.1, cpu_cores)
        signal.tick(calls, lag)


def test_a_quiet_worker_admits():
    assert decide(Reading(calls=0), Limits()).admit
    assert decide(Reading(calls=10, cpu_per_call=0.01), Limits()).admit


def test_the_hard_cap_refuses_whatever_the_measurement_says():
    d = decide(Reading(calls=5, cpu_per_call=0.001), Limits(max_calls=5))
    assert (d.admit, d.reason) == (False, "max_calls") and d.detail == "at capacity (5 calls)"


def test_each_caller_facing_signal_refuses_on_its_own():
    limits = Limits()
    assert decide(Reading(calls=3, miss_rate=0.05), limits).reason == "pacing"
    assert decide(Reading(calls=3, backlog_ms=400), limits).reason == "input_backlog"
    assert decide(Reading(calls=3, loop_lag_ms=300), limits).reason == "loop_lag"
    # just under every threshold: admitted
    assert decide(Reading(calls=3, miss_rate=0.019, backlog_ms=149, loop_lag_ms=249), limits).admit


def test_the_ceiling_is_the_cpu_budget_over_the_measured_cost_of_one_call():
    limits = Limits(cpu_budget=0.8)
    assert decide(Reading(calls=38, cpu_per_call=0.02), limits).admit  # the 39th fits 0.8 / 0.02 = 40
    assert decide(Reading(calls=39, cpu_per_call=0.02), limits).admit  # the 40th too
    refused = decide(Reading(calls=40, cpu_per_call=0.02), limits)
    assert (refused.admit, refused.reason) == (False, "ceiling") and "allows 40" in refused.detail
    # a cheaper call raises the ceiling: nothing about it is a constant
    assert decide(Reading(calls=40, cpu_per_call=0.01), limits).admit


def test_admission_off_keeps_only_the_hard_cap():
    off = Limits(max_calls=3, measured=False)
    assert decide(Reading(calls=2, miss_rate=0.5, loop_lag_ms=900, cpu_per_call=1.0), off).admit
    assert decide(Reading(calls=3), off).reason == "max_calls"


def test_the_signal_measures_cpu_per_call_above_the_idle_cost():
    clocks = Clocks()
    signal = signal_with(clocks, cpu_budget=0.8)
    run_for(signal, clocks, 10, calls=0, cpu_cores=0.05)  # idle: the process's own cost
    run_for(signal, clocks, 15, calls=10, cpu_cores=0.25)  # ten calls: 0.02 of a core each
    reading = signal.reading(10)
    assert reading.cpu_per_call == pytest.approx(0.02, rel=0.05)
    assert reading.ceiling_for(0.8) in (39, 40, 41)
    assert signal.decide(10).admit and not signal.decide(45).admit


def test_a_few_late_frames_are_noise_a_steady_share_refuses_and_it_recovers():
    clocks = Clocks()
    signal = signal_with(clocks, miss_ms=40, miss_rate=0.02)
    pacers = [signal.pacer() for _ in range(5)]
    t = 0.0
    for i in range(500):  # 5 calls, 2 s of 20 ms frames, one frame in 100 a little late
        t += 0.02
        for p in pacers:
            p.sent(0.02, now=t + (0.05 if i % 100 == 50 else 0.0))
        if i % 5 == 4:
            clocks.advance(0.1, 0.1)
            signal.tick(5, 0.0)
    assert signal.decide(5).admit
    for i in range(200):  # then every fourth frame 60 ms late: callers hear gaps
        t += 0.02
        late = 0.06 if i % 4 == 0 else 0.0
        for p in pacers:
            p.sent(0.02, now=t + late)
        t += late
        if i % 5 == 4:
            clocks.advance(0.1, 0.1)
            signal.tick(5, 0.0)
    refused = signal.decide(5)
    assert (refused.admit, refused.reason) == (False, "pacing")
    run_for(signal, clocks, 1, calls=5, cpu_cores=0.1)
    for _ in range(1000):  # on time again: the share decays below the limit
        t += 0.02
        for p in pacers:
            p.sent(0.02, now=t)
        if _ % 5 == 4:
            clocks.advance(0.1, 0.1)
            signal.tick(5, 0.0)
    assert signal.decide(5).admit


def test_a_pause_between_utterances_is_not_a_miss_and_audio_sent_ahead_is_on_time():
    clocks = Clocks()
    signal = signal_with(clocks)
    pacer = signal.pacer()
    for i in range(10):  # sent in a burst ahead of real time: buffered at the far end
        pacer.sent(0.02, now=1.0 + i * 0.001)
    pacer.sent(0.02, now=3.0)  # two seconds of silence, then the next sentence
    for i in range(1, 60):
        pacer.sent(0.02, now=3.0 + i * 0.02)
    assert (signal.frames, signal.missed) == (70, 0)


def test_input_backlog_is_arrival_against_the_callers_own_clock():
    clocks = Clocks()
    signal = signal_with(clocks, backlog_ms=150)
    backlog = signal.backlog_of()
    for i in range(50):  # on time, with some network jitter
        backlog.received(i * 20, now=5.0 + i * 0.02 + (0.005 if i % 3 else 0.0))
    clocks.advance(0.1, 0.1)
    signal.tick(1, 0.0)
    assert signal.decide(1).admit
    backlog.received(50 * 20, now=5.0 + 50 * 0.02 + 0.3)  # read 300 ms after it was sent
    clocks.advance(0.1, 0.1)
    signal.tick(1, 0.0)
    refused = signal.decide(1)
    assert (refused.admit, refused.reason) == (False, "input_backlog")


def test_limits_from_the_environment_name_a_bad_value():
    limits = Limits.from_env(7, env={"CB_ADMIT_CPU": "0.5", "CB_ADMISSION": "off"})
    assert (limits.max_calls, limits.cpu_budget, limits.measured) == (7, 0.5, False)
    with pytest.raises(ValueError, match="CB_ADMIT_BACKLOG_MS"):
        Limits.from_env(7, env={"CB_ADMIT_BACKLOG_MS": "lots"})
