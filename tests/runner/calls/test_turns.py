"""The preemptive turn strategy: when it asks the LLM early, and when it takes the answer back.

The strategy's decisions are its events (inference triggered, speculation cancelled, turn stopped);
pipecat's aggregator and speculation gate act on them. The latency it buys is measured end to end
by `bench/run.py --sections turns` (profile b with and without it).
"""

from __future__ import annotations

import asyncio

from pipecat.clocks.system_clock import SystemClock
from pipecat.frames.frames import (
    EagerEndOfTurnCancelFrame,
    InterimTranscriptionFrame,
    STTMetadataFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.utils.asyncio.task_manager import TaskManager

from cb.runner.calls.turns import PreemptiveStopStrategy


def final(text: str) -> TranscriptionFrame:
    return TranscriptionFrame(text, "caller", "2026-11-25T00:00:00Z", finalized=True)


async def drive(*frames) -> list[tuple]:
    strategy = PreemptiveStopStrategy()
    await strategy.setup(FrameProcessorSetup(
        clock=SystemClock(), pipeline_worker=None, task_manager=TaskManager(loop=asyncio.get_running_loop())))
    events: list[tuple] = []

    @strategy.event_handler("on_user_turn_inference_triggered")
    async def inference(_strategy, speculation):
        events.append(("ask", speculation.text if speculation else None))

    @strategy.event_handler("on_user_turn_speculation_cancelled")
    async def cancelled(_strategy):
        events.append(("withdraw",))

    @strategy.event_handler("on_user_turn_stopped")
    async def stopped(_strategy, params):
        events.append(("stopped", params.confirms_speculation))
        await strategy.handle_user_turn_stopped()  # as pipecat's turn controller does

    await strategy.handle_user_turn_started()
    # The STT's p99 time to a final after the VAD's stop: how long a turn waits for words still due.
    for frame in (STTMetadataFrame(service_name="stt", ttfs_p99_latency=0.5), *frames):
        await strategy.process_frame(frame)
        await asyncio.sleep(0.01)  # the strategy's zero-length speech timer
    await strategy.cleanup()
    events.append(("confirmed", strategy.confirmed, "withdrawn", strategy.withdrawn))
    return events


def test_a_transcript_before_the_vad_stop_is_answered_at_once_and_confirmed_by_the_stop():
    events = asyncio.run(drive(VADUserStartedSpeakingFrame(), final("Book me for Tuesday."),
                               VADUserStoppedSpeakingFrame(stop_secs=0.2)))
    assert events == [("ask", "Book me for Tuesday."), ("stopped", True), ("confirmed", 1, "withdrawn", 0)]


def test_the_caller_going_on_withdraws_the_answer_and_asks_again():
    events = asyncio.run(drive(VADUserStartedSpeakingFrame(), final("Book me for Tuesday,"),
                               InterimTranscriptionFrame("at", "caller", "2026-11-25T00:00:00Z"),
                               final(" at ten."), VADUserStoppedSpeakingFrame(stop_secs=0.2)))
    assert events == [("ask", "Book me for Tuesday,"), ("withdraw",),
                      ("ask", "Book me for Tuesday, at ten."), ("stopped", True), ("confirmed", 1, "withdrawn", 1)]


def test_a_transcript_after_the_vad_stop_ends_the_turn_the_ordinary_way():
    events = asyncio.run(drive(VADUserStartedSpeakingFrame(), VADUserStoppedSpeakingFrame(stop_secs=0.2),
                               final("Book me for Tuesday.")))
    assert events == [("ask", None), ("stopped", False), ("confirmed", 0, "withdrawn", 0)]


def test_words_that_came_after_the_guess_are_answered_afresh():
    # The caller went on after a pause the STT took for an end; the rest was finalised only after
    # the VAD's stop: the held answer is dropped and the LLM runs on the whole turn.
    events = asyncio.run(drive(VADUserStartedSpeakingFrame(), final("Book me"),
                               InterimTranscriptionFrame("for", "caller", "2026-11-25T00:00:00Z"),
                               VADUserStoppedSpeakingFrame(stop_secs=0.2), final(" for Tuesday.")))
    assert events == [("ask", "Book me"), ("withdraw",), ("ask", None), ("stopped", False),
                      ("confirmed", 0, "withdrawn", 1)]


def test_a_guess_the_llm_withdrew_is_not_confirmed():
    # pipecat's LLM service withdraws a speculative answer that wants a tool: the turn's end must
    # run the LLM again, so the tool runs once, for the whole turn, and the caller gets an answer.
    events = asyncio.run(drive(VADUserStartedSpeakingFrame(), final("Book me for Tuesday."),
                               EagerEndOfTurnCancelFrame(), VADUserStoppedSpeakingFrame(stop_secs=0.2)))
    assert events == [("ask", "Book me for Tuesday."), ("ask", None), ("stopped", False),
                      ("confirmed", 0, "withdrawn", 1)]
