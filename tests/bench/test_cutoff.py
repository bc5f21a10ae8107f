"""bench/cutoff.py's reading of a trace: a line is cut off when the agent's audio reaches the caller
before the line's last voiced frame went out, and its turn latency counts from that last voice."""

from __future__ import annotations

from bench.caller import Sent, Step, Trace
from bench.cutoff import rows_of
from bench.voice import FRAME_SAMPLES, RATE, ULAW_SILENCE, Utterance

FRAME = FRAME_SAMPLES / RATE


def trace_with(media_at: list[float], name: str = "My name is ... Sarah Johnson.") -> Trace:
    """A caller that sent 100 frames (20 ms apart from t=10 s); its line is frames 20..69."""
    line = Utterance(name, (ULAW_SILENCE,) * 50, 0, 50 * FRAME_SAMPLES - 1)
    trace = Trace(sent_at=[10 + i * FRAME for i in range(100)], media_at=media_at)
    trace.steps.append(Sent(Step("turn", line), first_frame=20))
    return trace


def test_agent_audio_inside_the_line_is_a_cut_off_and_has_no_latency():
    (row,) = rows_of(trace_with([10 + 40 * FRAME, 10 + 80 * FRAME]))  # in the pause, then after
    assert row["paused"] and row["cut_off"] and row["total_ms"] is None


def test_agent_audio_after_the_line_is_its_answer_timed_from_the_last_voice():
    (row,) = rows_of(trace_with([10 + 69 * FRAME + 0.35], name="What is the address of your office?"))
    assert not row["paused"] and not row["cut_off"]
    assert 345 < row["total_ms"] < 355  # the last sample was captured as frame 69 left
