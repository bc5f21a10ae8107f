"""The call-path observer that feeds recording and transcript, driven with real pipecat frames."""

from __future__ import annotations

import asyncio
import json
import wave

import numpy as np
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    InputAudioRawFrame,
    InterruptionFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.observers.base_observer import FramePushed
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import TransportParams

from cb.runner.postcall.capture import CallCapture

RATE = 8000
FRAME = b"\x10\x27" * (RATE // 50)  # 20 ms of a constant, non-zero signal


def test_audio_and_turns_are_captured_from_the_frames_the_transports_push(tmp_path):
    async def go():
        capture = CallCapture(tmp_path, RATE)
        inp, out, stt = BaseInputTransport(TransportParams()), BaseOutputTransport(TransportParams()), FrameProcessor()

        async def push(frame, source=stt, direction=FrameDirection.DOWNSTREAM, first=True):
            await capture.on_push_frame(FramePushed(source=source, destination=stt, frame=frame,
                                                    direction=direction, timestamp=0, first_push=first))

        await push(BotStartedSpeakingFrame(), out)
        await push(TTSTextFrame("Thanks for calling.", text_type="sentence"), out)
        agent_audio = TTSAudioRawFrame(FRAME, RATE, 1)
        await push(agent_audio, stt)  # TTS -> output transport: generated, not yet played
        await push(agent_audio, out)  # output transport -> on: played
        await push(BotStoppedSpeakingFrame(), out)
        await push(VADUserStartedSpeakingFrame(), stt)
        caller_audio = InputAudioRawFrame(FRAME, RATE, 1)
        await push(caller_audio, inp)
        await push(caller_audio, stt, first=False)  # passed along: must not be recorded twice
        await push(VADUserStoppedSpeakingFrame(), stt)
        await push(TranscriptionFrame("I'd like to book.", "caller", "2026-01-01T00:00:00Z"), stt)
        await push(UserStoppedSpeakingFrame(), stt)
        await push(BotStartedSpeakingFrame(), out)
        await push(TTSTextFrame("Of course,", text_type="sentence"), out)
        await push(TTSTextFrame("let me check.", text_type="sentence"), stt)  # synthesised, never played
        await push(InterruptionFrame(), stt)
        await push(BotStoppedSpeakingFrame(), out)
        return capture.close()

    result = asyncio.run(go())
    turns = json.loads((tmp_path / "transcript.json").read_text())
    assert [(t["speaker"], t["text"], t["interrupted"]) for t in turns] == [
        ("agent", "Thanks for calling.", False),
        ("caller", "I'd like to book.", False),
        ("agent", "Of course,", True),
    ]
    assert all(t["end"] >= t["start"] for t in turns)
    with wave.open(result["recording"]) as w:
        assert w.getnchannels() == 2 and w.getframerate() == RATE
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert np.count_nonzero(data[:, 0]) == RATE // 50, "the caller's frame, once"
    assert np.count_nonzero(data[:, 1]) == RATE // 50, "the agent's frame, once, as played"


def test_a_reply_cut_by_a_barge_in_is_kept_with_the_words_heard_and_late_words_do_not_overlap(tmp_path, monkeypatch):
    """Issue 19: an impatient caller talks over the agent. The cut reply stays, marked interrupted,
    with the words played before the cut; a transcript that arrives after its turn closed joins
    that turn instead of opening a second one over the same seconds."""
    from cb.runner.postcall import capture as capture_mod
    clock = {"t": 100.0}
    monkeypatch.setattr(capture_mod.time, "monotonic", lambda: clock["t"])

    async def go():
        capture = CallCapture(tmp_path, RATE)
        inp, out, tts = BaseInputTransport(TransportParams()), BaseOutputTransport(TransportParams()), FrameProcessor()

        async def push(frame, source=tts, at=None, first=True):
            if at is not None:
                clock["t"] = 100.0 + at
            await capture.on_push_frame(FramePushed(source=source, destination=tts, frame=frame,
                                                    direction=FrameDirection.DOWNSTREAM, timestamp=0, first_push=first))

        sentence = "Sure, I can book a cleaning for you next Tuesday morning."  # 11 words, 1 s of audio
        chunks = [TTSAudioRawFrame(FRAME, RATE, 1) for _ in range(50)]
        await push(BotStartedSpeakingFrame(), out, at=1.0)
        for c in chunks:  # the TTS generates the whole sentence, then its text
            await push(c, tts)
        await push(TTSTextFrame(sentence, text_type="sentence"), tts)
        for c in chunks[:20]:  # 0.4 s of it is played
            await push(c, out)
        await push(VADUserStartedSpeakingFrame(), tts, at=1.4)
        await push(InterruptionFrame(), tts, at=1.6)
        await push(BotStoppedSpeakingFrame(), out, at=1.6)
        # The caller's speech: "Yeah." then more speech that started inside the same turn
        await push(VADUserStoppedSpeakingFrame(), tts, at=2.0)
        await push(TranscriptionFrame("Yeah.", "caller", "now"), tts, at=2.1)
        await push(VADUserStartedSpeakingFrame(), tts, at=2.2)
        await push(UserStoppedSpeakingFrame(), tts, at=2.6)
        await push(TranscriptionFrame("that work.", "caller", "now"), tts, at=2.9)
        return capture.close()

    asyncio.run(go())
    turns = json.loads((tmp_path / "transcript.json").read_text())
    assert [(t["speaker"], t["text"], t["interrupted"]) for t in turns] == [
        ("agent", "Sure, I can book…", True),
        ("caller", "Yeah. that work.", False),
    ]
    callers = [t for t in turns if t["speaker"] == "caller"]
    for a, b in zip(callers, callers[1:]):
        assert b["start"] >= a["end"], "caller fragments must not overlap"


def test_a_reply_cut_before_its_text_reached_the_transport_is_not_lost(tmp_path):
    """Without the fix the turn had no text (Piper sends it behind the audio) and was dropped."""
    async def go():
        capture = CallCapture(tmp_path, RATE)
        out, tts = BaseOutputTransport(TransportParams()), FrameProcessor()

        async def push(frame, source=tts):
            await capture.on_push_frame(FramePushed(source=source, destination=tts, frame=frame,
                                                    direction=FrameDirection.DOWNSTREAM, timestamp=0, first_push=True))

        chunks = [TTSAudioRawFrame(FRAME, RATE, 1) for _ in range(10)]
        await push(BotStartedSpeakingFrame(), out)
        for c in chunks:
            await push(c)
        await push(TTSTextFrame("One two three four.", text_type="sentence"))
        for c in chunks:  # all played, its text still queued behind the audio
            await push(c, out)
        await push(InterruptionFrame())
        await push(BotStoppedSpeakingFrame(), out)
        return capture.close()

    asyncio.run(go())
    turns = json.loads((tmp_path / "transcript.json").read_text())
    assert [(t["speaker"], t["text"], t["interrupted"]) for t in turns] == [("agent", "One two three four.", True)]
