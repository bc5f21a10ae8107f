"""The backchannel strategy's decisions over the agent: which sounds start a user turn (pipecat's
interruption), which are backchannels taken out of the user's words, and when the paused agent
goes on. How often, and how fast, on spoken audio through a real runner: `bench/run.py --sections
bargein`; the same through a call: tests/e2e/test_barge_in.py."""

from __future__ import annotations

import asyncio

import numpy as np
from pipecat.audio.vad.vad_analyzer import VADState
from pipecat.clocks.system_clock import SystemClock
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    InterimTranscriptionFrame,
    TranscriptionFrame,
    UserBackchannelFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.utils.asyncio.task_manager import TaskManager

from cb.config.models import BACKCHANNELS, Interruptions
from cb.runner.calls.backchannel import BackchannelStartStrategy, Onset, Phrases
from cb.runner.calls.duck import Duck

LOUD = (np.sin(np.arange(160) / 3) * 6000).astype(np.int16).tobytes()  # a 20 ms frame of voice
QUIET = np.zeros(160, dtype=np.int16).tobytes()


def final(text: str) -> TranscriptionFrame:
    return TranscriptionFrame(text, "caller", "2026-11-29T00:00:00Z", finalized=True)


def interim(text: str) -> InterimTranscriptionFrame:
    return InterimTranscriptionFrame(text, "caller", "2026-11-29T00:00:00Z")


class Call:
    """The strategy as the user aggregator's turn controller drives it, with the call's duck."""

    def __init__(self, **kwargs):
        kwargs.setdefault("long_voice_secs", 5.0)  # real time: generous where it is not under test
        kwargs.setdefault("confirm_secs", 5.0)
        kwargs.setdefault("words_wait_secs", 0.15)
        kwargs.setdefault("short_wait_secs", 0.1)
        self.duck = Duck(max_hold=5.0)
        self.strategy = BackchannelStartStrategy(BACKCHANNELS, duck=self.duck, **kwargs)
        self.events: list[str] = []

    async def __aenter__(self) -> "Call":
        s = self.strategy
        await s.setup(FrameProcessorSetup(clock=SystemClock(), pipeline_worker=None,
                                          task_manager=TaskManager(loop=asyncio.get_running_loop())))

        @s.event_handler("on_user_turn_started")
        async def started(_s, params):
            self.events.append("turn")
            await s.handle_user_turn_started()  # as pipecat's turn controller does

        @s.event_handler("on_reset_aggregation")
        async def reset(_s):
            self.events.append("reset")

        @s.event_handler("on_push_frame")
        async def push(_s, frame, direction):
            if isinstance(frame, UserBackchannelFrame):
                self.events.append(f"backchannel {frame.text}")

        return self

    async def __aexit__(self, *exc):
        await self.strategy.cleanup()

    async def frames(self, *frames):
        for frame in frames:
            await self.strategy.process_frame(frame)

    async def speak(self, frames: int, state: VADState = VADState.SPEAKING):
        """``frames`` 20 ms frames of voice as the analyser sees them, in real time."""
        for _ in range(frames):
            self.strategy.sound(LOUD)
            self.strategy.voice(state)
            await asyncio.sleep(0.02)

    async def hush(self, frames: int):
        for _ in range(frames):
            self.strategy.sound(QUIET)
            self.strategy.voice(VADState.QUIET)
            await asyncio.sleep(0.02)


def test_mm_hm_over_the_agent_pauses_it_and_it_goes_on_without_a_turn():
    async def go():
        async with Call() as call:
            await call.frames(BotStartedSpeakingFrame())
            await call.speak(1, VADState.STARTING)
            assert call.duck.holding  # paused on the first loud frame, before the VAD decided anything
            await call.speak(20)
            await call.frames(VADUserStartedSpeakingFrame())
            await call.hush(10)  # the VAD's stop comes 0.2 s after the voice
            await call.frames(VADUserStoppedSpeakingFrame(), final("Mm-hmm."))
            return call

    call = asyncio.run(go())
    assert call.events == ["reset", "backchannel Mm-hmm."]  # out of the user's words, no turn
    assert not call.duck.holding and call.duck.resumed == 1 and call.strategy.backchannels == 1
    assert call.strategy.interruptions == 0


def test_words_that_are_not_acknowledgements_interrupt_on_the_interim():
    async def go():
        async with Call(long_voice_secs=5.0) as call:
            await call.frames(BotStartedSpeakingFrame())
            await call.speak(10)
            await call.frames(VADUserStartedSpeakingFrame(), interim("Wait,"))
            assert call.events == ["turn"]
            assert call.duck.holding  # silent until the interruption's clear reaches the transport
            call.duck.cleared()
            await call.frames(interim("Wait, stop, I have"))  # the caller's turn now: nothing more to judge
            return call

    call = asyncio.run(go())
    assert call.events == ["turn"] and call.strategy.interruptions == 1 and call.duck.resumed == 0


def test_a_backchannel_that_goes_on_into_words_interrupts():
    async def go():
        async with Call(long_voice_secs=5.0) as call:
            await call.frames(BotStartedSpeakingFrame())
            await call.speak(15)
            await call.frames(VADUserStartedSpeakingFrame(), interim("Yeah"))
            assert call.events == []
            await call.frames(interim("Yeah but"))
            return call

    assert asyncio.run(go()).events == ["turn"]


def test_a_voice_that_goes_on_interrupts_before_any_words():
    async def go():
        async with Call(long_voice_secs=0.5) as call:
            await call.frames(BotStartedSpeakingFrame())
            await call.speak(2)
            await call.frames(VADUserStartedSpeakingFrame())
            assert call.events == []
            for _ in range(100):  # until past 0.5 s of voice
                await call.speak(1)
                if call.events:
                    break
            return call

    call = asyncio.run(go())
    assert call.events == ["turn"] and call.strategy.interruptions == 1


def test_a_short_command_interrupts_on_its_words_after_the_voice():
    async def go():
        async with Call() as call:
            await call.frames(BotStartedSpeakingFrame())
            await call.speak(12)
            await call.frames(VADUserStartedSpeakingFrame())
            await call.hush(3)
            await call.frames(VADUserStoppedSpeakingFrame())
            assert call.duck.holding  # the words are due: still paused
            await call.frames(final("Stop."))
            return call

    call = asyncio.run(go())
    assert call.events == ["turn"] and call.duck.resumed == 0


def test_a_cough_that_is_never_voice_resumes_the_agent_after_the_confirm_window():
    async def go():
        async with Call(confirm_secs=0.3) as call:
            await call.frames(BotStartedSpeakingFrame())
            for _ in range(2):  # loud, but the VAD never hears voice
                call.strategy.sound(LOUD)
                call.strategy.voice(VADState.QUIET)
            held = call.duck.holding
            await asyncio.sleep(0.35)
            await call.hush(2)
            return call, held

    call, held = asyncio.run(go())
    assert held and not call.duck.holding and call.duck.resumed == 1
    assert call.events == [] and call.strategy.noises == 1


def test_a_voice_with_no_words_resumes_the_agent_when_the_words_are_overdue():
    async def go():
        async with Call(words_wait_secs=0.1) as call:
            await call.frames(BotStartedSpeakingFrame())
            await call.speak(12)
            await call.frames(VADUserStartedSpeakingFrame())
            await call.hush(2)
            await call.frames(VADUserStoppedSpeakingFrame())
            held = call.duck.holding
            await asyncio.sleep(0.2)
            # words that come after all are still judged: a late "stop" interrupts
            await call.frames(final("Stop."))
            return call, held

    call, held = asyncio.run(go())
    assert held and call.duck.resumed == 1 and call.strategy.noises == 1 and call.events == ["turn"]


def test_a_late_backchannel_after_the_agent_finished_is_still_no_turn():
    async def go():
        async with Call(words_wait_secs=0.05) as call:
            await call.frames(BotStartedSpeakingFrame())
            await call.speak(20)
            await call.frames(VADUserStartedSpeakingFrame())
            await call.hush(10)
            await call.frames(VADUserStoppedSpeakingFrame())
            await asyncio.sleep(0.1)  # the agent goes on, and finishes, before the STT's words
            await call.frames(BotStoppedSpeakingFrame(), final("Mm-hmm."))
            return call

    call = asyncio.run(go())
    assert call.events == ["reset", "backchannel Mm-hmm."] and call.strategy.noises == 1


def test_when_the_agent_is_quiet_voice_starts_the_turn_at_once():
    async def go():
        async with Call() as call:
            await call.frames(BotStartedSpeakingFrame(), BotStoppedSpeakingFrame())
            await call.speak(10)
            assert not call.duck.holding  # nothing to pause
            await call.frames(VADUserStartedSpeakingFrame())
            return call

    call = asyncio.run(go())
    assert call.events == ["turn"] and call.strategy.interruptions == 0


def test_okay_answering_a_quiet_agent_is_a_turn_not_a_backchannel():
    async def go():
        async with Call() as call:
            await call.frames(final("Okay."))
            return call

    assert asyncio.run(go()).events == ["turn"]


def test_min_words_drops_too_few_words_and_interrupts_on_enough():
    async def go():
        async with Call(min_words=3) as call:
            await call.frames(BotStartedSpeakingFrame())
            await call.speak(15)
            await call.frames(VADUserStartedSpeakingFrame())
            await call.hush(2)
            await call.frames(VADUserStoppedSpeakingFrame(), final("No wait."))
            first = list(call.events)
            await call.speak(25)
            await call.frames(VADUserStartedSpeakingFrame(), interim("No wait please"))
            return call, first

    call, first = asyncio.run(go())
    assert first == ["reset"] and call.events == ["reset", "turn"]


def test_more_words_than_the_sound_could_hold_are_taken_for_none():
    async def go():
        async with Call(words_wait_secs=5.0) as call:
            await call.frames(BotStartedSpeakingFrame())
            await call.speak(15)  # 0.3 s: "Yeah."
            await call.frames(VADUserStartedSpeakingFrame())
            await call.hush(10)
            # Whisper tiny's words for Piper's 0.68 s "Mm-hm." on the phone, here for 0.3 s
            await call.frames(VADUserStoppedSpeakingFrame(), final("And then make some."))
            held = call.duck.holding
            await call.speak(30)  # 0.6 s is room for "Stop right there."
            await call.frames(final("Stop right there."))
            return call, held

    call, held = asyncio.run(go())
    assert held and call.events == ["reset", "turn"]


def test_a_late_backchannel_does_not_resume_the_agent_over_a_caller_still_talking():
    async def go():
        async with Call() as call:
            await call.frames(BotStartedSpeakingFrame())
            await call.speak(10)
            # a segmented STT's words for an earlier "yeah" arrive as the caller says more
            await call.frames(final("Yeah."))
            held = call.duck.holding
            await call.speak(15)
            await call.frames(interim("Wait"))
            return call, held

    call, held = asyncio.run(go())
    assert held and call.duck.resumed == 0 and call.events == ["reset", "backchannel Yeah.", "turn"]


def test_a_new_sound_pauses_the_agent_again_after_the_pause_ran_out_waiting_for_words():
    """bench --sections bargein, one round in ten: an "mm-hm"'s words were still due when the duck's
    max_hold ran out, and the interruption that followed heard the agent for 640 ms."""
    async def go():
        async with Call(words_wait_secs=5.0, short_wait_secs=5.0) as call:
            call.duck.max_hold = 0.2
            await call.frames(BotStartedSpeakingFrame())
            await call.speak(10, VADState.STARTING)  # "mm-hm": voice too short for a turn
            await call.hush(5)
            await call.duck.wait()  # ... its words are slow: the pause runs out, the agent goes on
            went_on = not call.duck.holding
            await call.hush(15)  # 0.3 s of quiet, then the caller starts to interrupt
            await call.speak(1)
            return went_on, call.duck.holding, call.duck.holds

    went_on, holding, holds = asyncio.run(go())
    assert went_on and holding and holds == 2


def test_an_interruption_that_begins_while_paused_for_an_mm_hm_keeps_the_pause_past_its_max_hold():
    """The same bench, another round: the interruption began while the agent was still paused for
    the "mm-hm", and max_hold, counted from the "mm-hm", ran out in the middle of it."""
    async def go():
        async with Call(words_wait_secs=5.0, short_wait_secs=5.0) as call:
            call.duck.max_hold = 0.6
            await call.frames(BotStartedSpeakingFrame())
            writer = asyncio.ensure_future(call.duck.wait())  # the agent's next frame
            await call.speak(10, VADState.STARTING)  # "mm-hm" at 0 s
            await call.hush(16)  # 0.32 s of quiet
            await call.speak(20)  # the interruption from ~0.52 s to ~0.92 s: past 0.6 s from the "mm-hm"
            return writer.done(), call.duck.holding

    assert asyncio.run(go()) == (False, True)


def test_a_steady_sound_does_not_pause_the_agent_again_once_the_pause_ran_out():
    async def go():
        async with Call(words_wait_secs=5.0, short_wait_secs=5.0) as call:
            call.duck.max_hold = 0.2
            await call.frames(BotStartedSpeakingFrame())
            await call.speak(10, VADState.STARTING)
            await call.duck.wait()
            await call.speak(10, VADState.STARTING)  # no quiet between: the same sound
            return call.duck.holding, call.duck.holds

    assert asyncio.run(go()) == (False, 1)


def test_phrases_match_any_spelling_and_runs_of_them_but_nothing_else():
    phrases = Phrases(BACKCHANNELS)
    for said in ("Mm-hm.", "Mm-hmm.", "mmhm", "Uh-huh.", "Yeah, yeah, okay.", "Right.", "I see."):
        assert phrases.only(said), said
    for said in ("Wait, stop, I have a question.", "Stop.", "Yeah but", "No.", "", " . "):
        assert not phrases.only(said), said
    assert not Phrases([]).only("Mm-hm.")


def test_an_empty_list_is_kept_and_means_every_word_interrupts():
    unset, none = Interruptions(), Interruptions(backchannels=[])
    assert "backchannels" not in unset.model_dump()  # no agent's content (or hash) moves while unset
    assert none.model_dump()["backchannels"] == []
    assert unset.backchannel_phrases == BACKCHANNELS and none.backchannel_phrases == ()


def test_onset_follows_the_line_noise_floor():
    onset = Onset()
    hiss = (np.random.default_rng(1).normal(0, 150, 160)).astype(np.int16).tobytes()
    assert not any(onset.loud(hiss) for _ in range(100))
    assert onset.loud(LOUD)
    # a line hissing at ~-35 dBFS: loud at first, no onset once its floor is known (~2 s)
    noise = np.random.default_rng(2)
    line = Onset()
    heard = [line.loud(noise.normal(0, 600, 160).astype(np.int16).tobytes()) for _ in range(250)]
    assert heard[0] and not any(heard[150:])
    assert line.loud((np.frombuffer(LOUD, dtype=np.int16) * 2).tobytes())  # a voice over it still is
