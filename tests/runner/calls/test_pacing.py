"""The lead: the agent's audio goes out up to 60 ms ahead of the caller's ear (runner/calls/pacing.py).

On a virtual clock: what a bench measures with real time is in bench/README.md ("What the caller
hears"), with ``CB_AUDIO_LEAD_MS=0`` for the figures without it."""

from __future__ import annotations

import asyncio

import pytest

from cb.runner.calls import pacing


class Clock:
    def __init__(self):
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, secs: float) -> None:
        self.now += secs


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(pacing.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(pacing.asyncio, "sleep", clock.sleep)
    return clock


def write_times(clock: Clock, lead: pacing.Lead, frames: int, stall_before: dict[int, float] | None = None) -> list[float]:
    """When each of ``frames`` writes went out, ms from the first; a stall holds the writer."""
    start, out = clock.now, []

    async def go():
        for i in range(frames):
            clock.now += (stall_before or {}).get(i, 0.0)
            out.append(round((clock.now - start) * 1000, 3))
            await lead.written()

    asyncio.run(go())
    return out


def heard_gaps(sent_ms: list[float], frame_ms: float = 20.0) -> list[float]:
    """Twilio's playout: each frame from its arrival or the end of the one before; the silences."""
    gaps, end = [], None
    for t in sent_ms:
        if end is not None and t > end:
            gaps.append(round(t - end, 3))
        end = max(t, end if end is not None else t) + frame_ms
    return gaps


def test_an_answer_starts_with_the_lead_at_once_then_goes_one_frame_a_frame(clock):
    lead = pacing.Lead(0.02, 0.06)
    sent = write_times(clock, lead, 8)
    # four frames at once: the lead and the one playing; each later one goes as one finishes
    assert sent == [0.0, 0.0, 0.0, 0.0, 20.0, 40.0, 60.0, 80.0]
    assert heard_gaps(sent) == [] and lead.restarts == 1


def test_a_stall_shorter_than_the_lead_is_caught_up_and_never_heard(clock):
    lead = pacing.Lead(0.02, 0.06)
    sent = write_times(clock, lead, 12, stall_before={6: 0.050})  # the event loop ran 50 ms late
    assert heard_gaps(sent) == [] and lead.restarts == 1
    assert sent[7] == sent[6] and sent[-1] - sent[-2] == 20.0  # catches up at once, then paced again


def test_without_a_lead_the_same_stall_is_a_gap_the_caller_hears(clock):
    lead = pacing.Lead(0.02, 0.0)  # pipecat's real-time pacing
    sent = write_times(clock, lead, 12, stall_before={6: 0.050})
    assert sum(heard_gaps(sent)) == pytest.approx(50.0) and lead.restarts == 2


def test_a_stall_longer_than_the_lead_is_heard_for_the_difference_and_the_clock_restarts(clock):
    lead = pacing.Lead(0.02, 0.06)
    sent = write_times(clock, lead, 12, stall_before={6: 0.150})
    assert sum(heard_gaps(sent)) == pytest.approx(150.0 - 60.0) and lead.restarts == 2


def test_a_clear_empties_the_far_end_so_the_next_answer_gets_its_lead_again(clock):
    lead = pacing.Lead(0.02, 0.06)
    write_times(clock, lead, 10)
    lead.reset()  # the barge-in's clear
    again = write_times(clock, lead, 4)
    assert again == [0.0, 0.0, 0.0, 0.0]


def test_the_lead_comes_from_cb_audio_lead_ms_and_a_bad_value_is_named():
    assert pacing.lead_secs({}) == 0.06 and pacing.lead_secs({"CB_AUDIO_LEAD_MS": "100"}) == 0.1
    assert pacing.lead_secs({"CB_AUDIO_LEAD_MS": "0"}) == 0.0
    for bad in ("60ms", "-20", "nan", "5000"):
        with pytest.raises(ValueError, match=r"CB_AUDIO_LEAD_MS='.*' is not a lead in milliseconds: give 0-1000"):
            pacing.lead_secs({"CB_AUDIO_LEAD_MS": bad})
