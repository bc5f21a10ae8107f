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
