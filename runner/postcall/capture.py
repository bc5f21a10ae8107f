"""Feed one call's recording and transcript from its pipecat frames (an observer).

The call path feeds it every frame push (``hooks.CALL_OBSERVERS``, through its CallObserver)
and post-call work ``close()``s it when the call ends. Caller audio is taken as the input
transport pushes it; agent audio (and the agent's words) as the output transport pushes it on
*after* writing it to the caller, i.e. at the moment it was played, so the two channels line up
with what each side heard. Audio the agent generated but never played
(dropped by a barge-in) is therefore not in the recording, as it was not on the call.

An agent reply cut by a barge-in stays in the transcript, marked ``interrupted``, with the words
the caller heard before the cut. A TTS without word timestamps (Piper) sends a sentence's text
behind its audio, so the text of the sentence being played when the cut came never reaches the
transport; its words are taken from what the TTS generated, in proportion to the share of that
sentence's audio that was played. Caller words that arrive after their turn closed join the
turn of the speech they belong to rather than opening a second turn over the same seconds.
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
    TTSAudioRawFrame,
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
    """``hold`` (recording consent, runner.compliance.disclosure): "after_disclosure" records no
    audio (silence in its place, so the file keeps its timeline) until the agent's first turn, which
    begins with the disclosure, has played uninterrupted; "off" records no audio at all."""

    def __init__(self, folder: str | Path, sample_rate: int = 8000, hold: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.hold = hold
        self.disclosed_at: float | None = None  # seconds into the call when the disclosure had played
        self.folder = Path(folder)
        t0 = time.monotonic()
        self.recorder = TwoChannelRecorder(self.folder / RECORDING, sample_rate)
        self.recorder.start(t0)
        self.transcript = Transcript(t0=t0)
        self._vad_start: float | None = None
        self._vad_stop: float | None = None
        self._interrupted = False
        # What the TTS generated and the transport has not finished playing: [text, seconds].
        self._generated: list[list] = []
        self._generating = 0.0  # seconds of audio generated for a sentence whose text is not yet known
        self._played = 0.0  # seconds played of the first sentence in _generated (or of _generating)

    async def on_push_frame(self, data: FramePushed) -> None:
        frame, source = data.frame, data.source
        if isinstance(frame, InputAudioRawFrame):
            if isinstance(source, BaseInputTransport) and not self.hold:
                self.recorder.caller(frame.audio, frame.sample_rate)
            return
        if isinstance(frame, OutputAudioRawFrame):
            seconds = len(frame.audio) / (2 * frame.sample_rate * max(1, frame.num_channels or 1))
            if isinstance(source, BaseOutputTransport) and data.direction == FrameDirection.DOWNSTREAM:
                if not self.hold:
                    self.recorder.agent(frame.audio, frame.sample_rate)
                self._played += seconds
            elif isinstance(frame, TTSAudioRawFrame) and data.first_push:
                self._generating += seconds
            return
        if isinstance(frame, TTSTextFrame):
            # Words count once the transport has sent their audio: an interrupted tail never is.
            if isinstance(source, BaseOutputTransport) and data.direction == FrameDirection.DOWNSTREAM:
                self.transcript.text("agent", frame.text)
                if self._generated and self._generated[0][0] == frame.text:
                    self._played = max(0.0, self._played - self._generated.pop(0)[1])
                else:
                    self._played = 0.0
            elif data.first_push:
                self._generated.append([frame.text, self._generating])
                self._generating = 0.0
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
            # belong to the speech that started at the last VAD start, not to the moment they came,
            # and when that speech began inside the caller's last turn, to that turn.
            last = next((t for t in reversed(tr.turns) if t.speaker == "caller"), None)
            if "caller" not in tr._open:
                start = tr._rel(self._vad_start)
                if last is not None and start <= last.end:
                    last.text = f"{last.text} {frame.text.strip()}".strip()
                    return
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
            if self.hold == "after_disclosure" and self.disclosed_at is None:
                # the first turn began with the disclosure: heard whole, recording may start; cut
                # short, it was not heard, and nothing later is recorded
                self.hold = None if not self._interrupted else "off"
                self.disclosed_at = None if self._interrupted else round(time.monotonic() - tr.t0, 2)
            if self._interrupted:
                heard = self._heard_before_cut()
                if heard:
                    tr.text("agent", heard)
            tr.end("agent", interrupted=self._interrupted)
            self._interrupted = False

    def _heard_before_cut(self) -> str:
        """The words of the sentence being played when a barge-in cut it; forget the rest."""
        text, seconds = self._generated[0] if self._generated else ("", self._generating)
        played, self._played = self._played, 0.0
        self._generated.clear()
        self._generating = 0.0
        words = text.split()
        if not words or seconds <= 0:
            return ""
        n = min(len(words), int(len(words) * min(1.0, played / seconds) + 0.5))
        return " ".join(words[:n]) + ("…" if 0 < n < len(words) else "")

    def close(self) -> dict[str, Any]:
        """Finish both files; return where they are and what they hold."""
        duration = self.recorder.close()
        turns = self.transcript.close()
        path = self.transcript.write(self.folder / TRANSCRIPT)
        return {"recording": str(self.recorder.path), "transcript": str(path),
                "recording_sec": duration, "turns": turns, "disclosed_at_sec": self.disclosed_at}
