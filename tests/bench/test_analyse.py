"""The analysis turns a caller's raw trace into the right figures (no runner, no clock)."""

from __future__ import annotations

from bench import analyse
from bench.caller import Sent, Step, Trace
from bench.voice import Utterance

FRAME = b"\x00" * 160


def utterance(frames: int, last_voice: int) -> Utterance:
    return Utterance("u", (FRAME,) * frames, 0, last_voice)


def trace_with(steps, n_frames=200) -> Trace:
    t = Trace()
    t.sent_at = [i * 0.02 for i in range(n_frames)]
    t.sent_audio = [None] * n_frames
    t.steps = steps
    return t


def test_turn_latency_runs_from_the_captured_last_sample_to_the_first_agent_frame():
    u = utterance(10, 10 * 160 - 1)  # voice to the very end of frame 9 (sent at first+9)
    t = trace_with([Sent(Step("turn", u), first_frame=50)])
    t.media_at = [0.5, 1.3, 1.32]  # one old frame, then the reply
    vad = [analyse.VadEvent(40, True), analyse.VadEvent(70, False)]
    [row] = analyse.turns(t, vad)
    last_voice = 59 * 0.02  # the last sample is captured as its frame leaves
    assert row["total_ms"] == round((1.3 - last_voice) * 1000, 2)
    assert row["endpointing_ms"] == round((70 * 0.02 - last_voice) * 1000, 2)
    assert row["orchestration_ms"] == round((1.3 - 70 * 0.02) * 1000, 2)


def test_a_sample_early_in_its_frame_was_captured_before_the_frame_left():
    u = utterance(1, 0)
    t = trace_with([Sent(Step("turn", u), first_frame=10)])
    assert abs(t.captured(t.steps[0], 0) - (0.2 - 159 / 8000)) < 1e-9


def test_barge_in_measures_clear_last_frame_and_the_decision():
    u = utterance(50, 49 * 160)
    t = trace_with([Sent(Step("barge", u), first_frame=100)])
    onset = t.captured(t.steps[0], 0)
    t.media_at = [1.9, 1.98, 2.20, 2.22, 2.24]  # agent talking, stops at 2.24
    t.clear_at = [2.245]
    vad = [analyse.VadEvent(110, True)]
    [row] = analyse.barge_ins(t, vad)
    assert row["cleared"] and row["frames_after_clear"] == 0
    assert row["onset_to_clear_ms"] == round((2.245 - onset) * 1000, 2)
    assert row["onset_to_last_frame_ms"] == round((2.24 - onset) * 1000, 2)
    assert row["onset_to_silence_ms"] == row["onset_to_clear_ms"]
    assert row["decision_to_clear_ms"] == round((2.245 - 110 * 0.02) * 1000, 2)


def test_silence_is_when_twilio_has_played_what_it_holds_unless_a_clear_came_first():
    u = utterance(50, 49 * 160)
    t = trace_with([Sent(Step("barge", u), first_frame=100)])
    onset = t.captured(t.steps[0], 0)
    # The agent paused on the caller's first voiced window (2.06): Twilio plays the frame it holds
    # until 2.08; the clear at the VAD's decision (2.3) finds nothing left to cut.
    t.media_at = [1.96, 1.98, 2.0, 2.02, 2.04, 2.06]
    t.clear_at = [2.3]
    [row] = analyse.barge_ins(t, None)
    assert row["onset_to_silence_ms"] == round((2.08 - onset) * 1000, 2)
    assert row["onset_to_last_frame_ms"] == round((2.06 - onset) * 1000, 2)
    # A burst sent ahead of time stays in Twilio's buffer: 4 frames at 2.0 play until 2.08.
    t.media_at = [2.0, 2.0, 2.0, 2.0]
    [row] = analyse.barge_ins(t, None)
    assert row["onset_to_silence_ms"] == round((2.08 - onset) * 1000, 2)
    t.clear_at = [2.01]  # ... unless a clear empties it first
    [row] = analyse.barge_ins(t, None)
    assert row["onset_to_silence_ms"] == round((2.01 - onset) * 1000, 2)


def test_a_clear_after_a_burst_is_a_false_barge_in():
    t = trace_with([Sent(Step("burst", utterance(10, 1500)), first_frame=20), Sent(Step("burst", utterance(10, 1500)), first_frame=150)])
    t.clear_at = [0.7]
    assert [b["false_barge_in"] for b in analyse.bursts(t)] == [True, False]


def test_jitter_is_the_distance_from_20_ms_within_an_utterance():
    t = Trace(media_at=[0.0, 0.02, 0.045, 0.06, 1.0, 1.02, 1.04])
    assert [round(j, 3) for j in analyse.jitter(t, skip_start=False)] == [0.0, 5.0, 5.0, 0.0, 0.0]
    # The first interval of each utterance is pipecat's back-to-back pre-roll, left out by default.
    assert [round(j, 3) for j in analyse.jitter(t)] == [5.0, 5.0, 0.0]


def test_late_is_what_twilio_s_playout_hears_so_a_lead_s_catch_up_is_no_gap():
    # a sender with a lead: four frames at once, a 50 ms stall, then the catch-up
    lead = Trace(media_at=[0.0, 0.0, 0.0, 0.0, 0.02, 0.04, 0.11, 0.11, 0.11, 0.12, 0.14])
    assert max(analyse.late(lead)) == 0.0 and max(analyse.jitter(lead)) > 20
    # a sender without one: the same stall is 50 ms the caller hears; a new utterance starts afresh
    real_time = Trace(media_at=[0.0, 0.02, 0.04, 0.11, 0.13, 1.0, 1.02])
    assert [round(x, 3) for x in analyse.late(real_time)] == [0.0, 0.0, 50.0, 0.0, 0.0]


def test_summary_and_percentiles():
    s = analyse.summary([1.0, 2.0, 3.0, 4.0, None])
    assert s == {"n": 4, "median": 2.5, "p95": 3.85, "p99": 3.97, "min": 1.0, "max": 4.0}
    assert analyse.summary([]) == {"n": 0}
