"""Feed one call's recording and transcript from its pipecat frames (an observer).

The call path feeds it every frame push (``hooks.CALL_OBSERVERS``, through its CallObserver)
and post-call work ``close()``s it when the call ends. Caller audio is taken as the input
transport pushes it; agent audio (and the agent's words) as the output transport pushes it on
*after* writing it to the caller, i.e. at the moment it was played, so the two channels line up
with what each side heard. Audio the agent generated but never played
(dropped by a barge-in) is therefore not in the recording, as it was not on the call.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    InputAudioRawFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    TranscriptionFrame,
    TTSTextFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.processors.frame_processor import FrameDirection
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport

from .recording import Transcript, TwoChannelRecorder

RECORDING, TRANSCRIPT = "recording.wav", "transcript.json"


class CallCapture(BaseObserver):
    def __init__(self, folder: str | Path, sample_rate: int = 8000, **kwargs: Any):
        super().__init__(**kwargs)
        self.folder = Path(folder)
        t0 = time.monotonic()
        self.recorder = TwoChannelRecorder(self.folder / RECORDING, sample_rate)
        self.recorder.start(t0)
        self.transcript = Transcript(t0=t0)
        self._vad_start: float | None = None
        self._vad_stop: float | None = None
        self._interrupted = False

    async def on_push_frame(self, data: FramePushed) -> None:
        frame, source = data.frame, data.source
        if isinstance(frame, InputAudioRawFrame):
            if isinstance(source, BaseInputTransport):
                self.recorder.caller(frame.audio, frame.sample_rate)
            return
        if isinstance(frame, OutputAudioRawFrame):
            if isinstance(source, BaseOutputTransport) and data.direction == FrameDirection.DOWNSTREAM:
                self.recorder.agent(frame.audio, frame.sample_rate)
            return
        if isinstance(frame, TTSTextFrame):
            # Words count once the transport has sent their audio: an interrupted tail never is.
            if isinstance(source, BaseOutputTransport) and data.direction == FrameDirection.DOWNSTREAM:
                self.transcript.text("agent", frame.text)
            return
        if not getattr(data, "first_push", True):
            return
        tr = self.transcript
        if isinstance(frame, VADUserStartedSpeakingFrame):
            self._vad_start = time.monotonic()
            tr.begin("caller")
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self._vad_stop = time.monotonic() - float(getattr(frame, "stop_secs", 0.0) or 0.0)
        elif isinstance(frame, TranscriptionFrame):
            # Words can arrive after their turn was closed (the caller went on talking): they
            # belong to the speech that started at the last VAD start, not to the moment they came.
            if "caller" not in tr._open:
                tr.begin("caller", at=self._vad_start)
            tr.text("caller", frame.text)
        elif isinstance(frame, UserStoppedSpeakingFrame):
            tr.end("caller", at=self._vad_stop)
        elif isinstance(frame, BotStartedSpeakingFrame):
            self._interrupted = False
            tr.begin("agent")
        elif isinstance(frame, InterruptionFrame):
            self._interrupted = "agent" in tr._open
        elif isinstance(frame, BotStoppedSpeakingFrame):
            tr.end("agent", interrupted=self._interrupted)
            self._interrupted = False

    def close(self) -> dict[str, Any]:
        """Finish both files; return where they are and what they hold."""
        duration = self.recorder.close()
        turns = self.transcript.close()
        path = self.transcript.write(self.folder / TRANSCRIPT)
        return {"recording": str(self.recorder.path), "transcript": str(path),
                "recording_sec": duration, "turns": turns}
