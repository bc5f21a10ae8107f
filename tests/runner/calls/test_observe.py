"""Per-turn latency and the transcript, from the frames a call pushes."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    InputAudioRawFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)

from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport

from cb.runner.calls import observe

OUTPUT = object.__new__(BaseOutputTransport)


def feed(observer, frames_at, monkeypatch):
    """Push (t seconds, frame) pairs through the observer on a fake monotonic clock."""
    async def go():
        for t, frame in frames_at:
            monkeypatch.setattr(observe.time, "monotonic", lambda t=t: t)
            await observer.on_push_frame(SimpleNamespace(frame=frame, source=None))  # from a service
            await observer.on_push_frame(SimpleNamespace(frame=frame, source=OUTPUT))  # from the transport
            await observer.on_push_frame(SimpleNamespace(frame=frame, source=OUTPUT))  # seen again: counted once
    asyncio.run(go())


def test_a_turn_is_split_into_its_parts(monkeypatch):
    monkeypatch.setattr(observe.time, "monotonic", lambda: 0.0)
    turns = []
    o = observe.CallObserver(on_turn=lambda n, lat: turns.append((n, lat)))
    feed(o, [
        (0.5, TTSTextFrame("Hello, how can I help?", aggregated_by="sentence")),
        (0.6, BotStartedSpeakingFrame()),  # the greeting: not a measured turn
        (2.0, VADUserStartedSpeakingFrame()),
        (3.2, VADUserStoppedSpeakingFrame(stop_secs=0.2)),  # caller's last speech at 3.0
        (3.5, TranscriptionFrame("I need a cleaning.", "", "now")),
        (3.5, UserStoppedSpeakingFrame()),
        (3.55, LLMTextFrame("Sure")),
        (3.65, TTSAudioRawFrame(b"\0" * 320, 8000, 1)),
        (3.7, BotStartedSpeakingFrame()),
        (3.8, TTSTextFrame("Sure, when?", aggregated_by="sentence")),
    ], monkeypatch)
    assert turns == [(1, {"endpointing_ms": 200.0, "stt_ms": 300.0, "llm_first_token_ms": 50.0,
                           "tts_first_audio_ms": 100.0, "total_ms": 700.0})]
    assert [(t["role"], t["text"]) for t in o.transcript] == [
        ("agent", "Hello, how can I help?"), ("caller", "I need a cleaning."), ("agent", "Sure, when?")]


def test_speech_resumed_before_the_agent_answered_starts_the_turn_over(monkeypatch):
    monkeypatch.setattr(observe.time, "monotonic", lambda: 0.0)
    o = observe.CallObserver()
    feed(o, [
        (1.0, VADUserStoppedSpeakingFrame(stop_secs=0.2)),
        (1.2, TranscriptionFrame("Hi.", "", "now")),
        (1.2, UserStoppedSpeakingFrame()),
        (1.3, VADUserStartedSpeakingFrame()),  # "…I'd like to book" follows
        (2.5, VADUserStoppedSpeakingFrame(stop_secs=0.2)),
        (2.9, TranscriptionFrame("I'd like to book.", "", "now")),
        (2.9, UserStoppedSpeakingFrame()),
        (3.0, LLMTextFrame("Sure")),
        (3.1, TTSAudioRawFrame(b"\0" * 320, 8000, 1)),
        (3.2, BotStartedSpeakingFrame()),
    ], monkeypatch)
    assert len(o.turns) == 1 and o.turns[0]["total_ms"] == 900.0 and o.turns[0]["stt_ms"] == 400.0
    assert o.transcript == [{"role": "caller", "text": "Hi. I'd like to book.", "at_ms": 1200}]


INPUT = object.__new__(BaseInputTransport)
LOUD = (b"\x00\x10" * 160)  # int16 4096: voice
QUIET = (b"\x02\x00" * 160)  # int16 2: line noise


def heard(observer, frames_at, monkeypatch):
    """Caller audio as the input transport pushes it, then the rest as feed() does."""
    async def go():
        for t, frame in frames_at:
            monkeypatch.setattr(observe.time, "monotonic", lambda t=t: t)
            await observer.on_push_frame(SimpleNamespace(frame=frame, source=INPUT))
    asyncio.run(go())


def caller_turn(last_loud_at: float, vad_stop_at: float) -> list:
    audio = [(last_loud_at - 0.02 * i, InputAudioRawFrame(LOUD, 8000, 1)) for i in range(20, -1, -1)]
    audio += [(last_loud_at + 0.02 * i, InputAudioRawFrame(QUIET, 8000, 1)) for i in range(1, 8)]
    return audio + [(vad_stop_at, VADUserStoppedSpeakingFrame(stop_secs=0.2))]


def answer(at: float) -> list:
    return [(at, TranscriptionFrame("Hi.", "", "now")), (at, UserStoppedSpeakingFrame()),
            (at + 0.1, LLMTextFrame("Hello")), (at + 0.2, TTSAudioRawFrame(b"\0" * 320, 8000, 1)),
            (at + 0.2, BotStartedSpeakingFrame())]


def test_the_turn_counts_from_the_last_loud_frame_not_from_the_vads_slow_fall(monkeypatch):
    monkeypatch.setattr(observe.time, "monotonic", lambda: 0.0)
    o = observe.CallObserver()
    o._bot_speaking_turn = False
    # Voice ends at 3.00; Silero's confidence stays up to ~3.06, so the VAD stops at 3.26.
    heard(o, [(2.0, VADUserStartedSpeakingFrame()), *caller_turn(3.0, 3.26), *answer(3.3)], monkeypatch)
    assert o.turns[0]["endpointing_ms"] == 260.0 and o.turns[0]["total_ms"] == 500.0


def test_without_a_loud_frame_near_the_stop_the_vad_window_is_the_last_speech(monkeypatch):
    monkeypatch.setattr(observe.time, "monotonic", lambda: 0.0)
    o = observe.CallObserver()
    o._bot_speaking_turn = False
    # A quiet talker (nothing over the voice level) or a loud frame long before: the VAD decides.
    heard(o, [(1.0, InputAudioRawFrame(LOUD, 8000, 1)), (2.0, VADUserStartedSpeakingFrame()),
              (3.26, VADUserStoppedSpeakingFrame(stop_secs=0.2)), *answer(3.3)], monkeypatch)
    assert o.turns[0]["endpointing_ms"] == 200.0 and o.turns[0]["total_ms"] == 440.0
