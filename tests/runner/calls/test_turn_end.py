"""A turn whose words stop mid-sentence waits for more: which words look unfinished, and the hold
in front of the turn strategies (it delays the end of such a turn, the caller's voice cancels it).
The cut-off rate and turn latency it buys are measured by `bench/run.py --sections cutoff`."""

from __future__ import annotations

import asyncio
import time

import pytest
from pipecat.clocks.system_clock import SystemClock
from pipecat.frames.frames import (
    STTMetadataFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy
from pipecat.utils.asyncio.task_manager import TaskManager

from cb.config.models import Pipeline, TurnDetection
from cb.runner.calls.pipeline import turn_strategies
from cb.runner.calls.turn_end import holding, looks_unfinished
from cb.runner.calls.turns import PreemptiveStopStrategy


@pytest.mark.parametrize("text", [
    "I'd like to book", "I'd like to book.", "My name is", "Can I come in on", "I was wondering if",
    "The appointment is for.", "Could you move it to", "I need a cleaning and", "It's for my", "Um",
    "So I was, uh", "I'd like to book,", "Tuesday or...", "Is there anything, um…", "I think -",
])
def test_a_turn_that_stops_mid_sentence_looks_unfinished(text):
    assert looks_unfinished(text)


@pytest.mark.parametrize("text", [
    "", "  ", "I'd like to book a cleaning.", "My name is Sarah Johnson.", "Yes.", "Yes I can.",
    "Thursday afternoon?", "No thank you, goodbye.", "That works for me.", "I think so.", "Can you do that?",
    "Mm-hm.", "Okay", "Thanks for that", "I would like that",
])
def test_a_finished_turn_does_not(text):
    assert not looks_unfinished(text)


def final(text: str) -> TranscriptionFrame:
    return TranscriptionFrame(text, "caller", "2026-11-29T00:00:00Z", finalized=True)


async def drive(strategy, steps) -> list[tuple[str, float]]:
    """Feed (frame or seconds to wait) steps; return (event, seconds since the last speech) pairs."""
    await strategy.setup(FrameProcessorSetup(
        clock=SystemClock(), pipeline_worker=None, task_manager=TaskManager(loop=asyncio.get_running_loop())))
    events: list[tuple[str, float]] = []
    spoke = time.monotonic()

    @strategy.event_handler("on_user_turn_stopped")
    async def stopped(_strategy, _params):
        events.append(("stopped", round(time.monotonic() - spoke, 2)))
        await strategy.handle_user_turn_stopped()

    await strategy.handle_user_turn_started()
    await strategy.process_frame(STTMetadataFrame(service_name="stt", ttfs_p99_latency=0.15))
    for step in steps:
        if isinstance(step, (int, float)):
            await asyncio.sleep(step)
            continue
        if isinstance(step, VADUserStartedSpeakingFrame):
            spoke = time.monotonic()
        if isinstance(step, VADUserStoppedSpeakingFrame):
            spoke = time.monotonic() - step.stop_secs
        await strategy.process_frame(step)
        await asyncio.sleep(0.01)
    await strategy.cleanup()
    return events


@pytest.mark.parametrize("base", [PreemptiveStopStrategy, SpeechTimeoutUserTurnStopStrategy])
def test_a_finished_turn_ends_at_the_vads_stop(base):
    strategy = holding(base)(user_speech_timeout=0.0, unfinished_stop_secs=0.6)
    events = asyncio.run(drive(strategy, [VADUserStartedSpeakingFrame(), final("My name is Sarah Johnson."),
                                          VADUserStoppedSpeakingFrame(stop_secs=0.2), 0.3]))
    assert [e for e, _ in events] == ["stopped"] and events[0][1] < 0.35, events
    assert strategy.held == 0


@pytest.mark.parametrize("base", [PreemptiveStopStrategy, SpeechTimeoutUserTurnStopStrategy])
def test_an_unfinished_turn_waits_until_the_unfinished_stop_after_the_last_speech(base):
    strategy = holding(base)(user_speech_timeout=0.0, unfinished_stop_secs=0.6)
    events = asyncio.run(drive(strategy, [VADUserStartedSpeakingFrame(), final("My name is"),
                                          VADUserStoppedSpeakingFrame(stop_secs=0.2), 0.8]))
    assert [e for e, _ in events] == ["stopped"], events
    assert 0.55 <= events[0][1] < 0.75, events  # 0.6 s after the last speech, not 0.2
    assert (strategy.held, strategy.resumed) == (1, 0)


def test_the_caller_going_on_in_the_pause_keeps_the_turn_open_until_it_really_ends():
    strategy = holding(PreemptiveStopStrategy)(unfinished_stop_secs=0.6)
    events = asyncio.run(drive(strategy, [
        VADUserStartedSpeakingFrame(), final("My name is"), VADUserStoppedSpeakingFrame(stop_secs=0.2),
        0.2,  # 0.4 s into the pause the VAD hears the caller again
        VADUserStartedSpeakingFrame(), 0.5, final(" Sarah Johnson."), VADUserStoppedSpeakingFrame(stop_secs=0.2), 0.3]))
    # One end of turn, at the VAD's stop after the whole sentence; none in the pause.
    assert [e for e, _ in events] == ["stopped"], events
    assert events[0][1] < 0.35, events
    assert (strategy.held, strategy.resumed) == (1, 1)


def test_unfinished_stop_at_or_below_the_vad_stop_changes_nothing():
    strategy = holding(PreemptiveStopStrategy)(unfinished_stop_secs=0.0)
    events = asyncio.run(drive(strategy, [VADUserStartedSpeakingFrame(), final("My name is"),
                                          VADUserStoppedSpeakingFrame(stop_secs=0.2), 0.3]))
    assert [e for e, _ in events] == ["stopped"] and events[0][1] < 0.35, events
    assert strategy.held == 0


def test_every_stop_strategy_of_an_agent_holds_unfinished_turns_with_its_setting():
    for turn in ({}, {"preemptive_generation": False}, {"unfinished_stop_secs": 0.9}):
        (stop,) = turn_strategies(Pipeline(turn=TurnDetection(**turn))).stop
        assert stop._unfinished_stop == turn.get("unfinished_stop_secs", 1.2), turn
    # Unset, the field stays out of the agent's dump: an agent's content and hash are what they were.
    assert "unfinished_stop_secs" not in TurnDetection().model_dump()
    assert TurnDetection(unfinished_stop_secs=0.9).model_dump()["unfinished_stop_secs"] == 0.9


def test_an_unfinished_turn_waits_for_the_words_of_a_stretch_still_being_transcribed():
    # Whisper transcribes each stretch after it ends; loaded, the first stretch's words ("my name
    # is") arrive after the caller finished the second, past the unfinished stop.
    strategy = holding(PreemptiveStopStrategy)(unfinished_stop_secs=0.3)
    events = asyncio.run(drive(strategy, [
        VADUserStartedSpeakingFrame(), VADUserStoppedSpeakingFrame(stop_secs=0.2), 0.1,
        VADUserStartedSpeakingFrame(), VADUserStoppedSpeakingFrame(stop_secs=0.2), 0.5,
        final("My name is."), 0.5, final(" Sarah Johnson."), 0.1]))
    # One end of turn, on the second stretch's words, not on the fragment.
    assert [e for e, _ in events] == ["stopped"], events
    assert events[0][1] >= 1.0, events


def test_words_still_due_are_not_waited_for_forever():
    strategy = holding(PreemptiveStopStrategy)(unfinished_stop_secs=0.3)
    assert strategy.hold_for("My name is", now=100.0, words_due=True) == 3.0
    assert strategy.hold_for("My name is Sarah.", now=100.0, words_due=True) == 0.0
