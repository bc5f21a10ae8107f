"""Who answered an outbound call, decided before the agent says a word.

While an outbound call is screened the agent stays silent and hears nothing: ``ScreenGate`` sits
between speech-to-text and the user turn and drops the callee's transcripts and voice-activity
frames (so the LLM never answers a machine's greeting), while it feeds the callee's audio and
words to the local detector (amd.py). A carrier's verdict (Twilio's async AMD callback) arrives
through ``Screening.carrier``; the first verdict that decides wins.

Then the agent's phone policy (``phone.voicemail``) acts, in ``CallSession._on_verdict``:
a person (or silence: ``unknown``) opens the gate and the agent greets; an answering machine is
hung up on (``hangup``), or waited out until its greeting ends (beep or silence) and left the
rendered ``voicemail_message`` (``leave_message``), or talked to as a person (``ignore``).
"""

from __future__ import annotations

import time
from typing import Any, Awaitable, Callable

from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    InterimTranscriptionFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from .amd import FRAME, Detector

#: What the user turn must not see while the call is screened.
HELD = (TranscriptionFrame, InterimTranscriptionFrame, UserStartedSpeakingFrame, UserStoppedSpeakingFrame,
        VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame)


class Screening:
    """One call's screening: the detector, whether the gate is closed, who hears the verdicts."""

    def __init__(self, on_verdict: Callable[[str, str], Awaitable[None]], detector: Detector | None = None):
        self.detector = detector or Detector()
        self.closed = True  # the agent neither speaks nor hears until a verdict opens it
        self.on_verdict = on_verdict
        self.verdicts: list[tuple[str, str, float]] = []  # (answered_by, source, monotonic time)
        self.decided = False  # the policy has acted; later verdicts are only recorded
        self.heard_before = True  # until the callee starts speaking again after the gate opens
        self._pcm = bytearray()

    async def _verdict(self, answered_by: str | None, source: str) -> None:
        if answered_by is None:
            return
        self.verdicts.append((answered_by, source, time.monotonic()))
        if not self.decided:
            await self.on_verdict(answered_by, source)

    async def carrier(self, answered_by: str) -> None:
        await self._verdict(answered_by, "carrier")

    async def audio(self, pcm16: bytes) -> None:
        self._pcm += pcm16
        while len(self._pcm) >= FRAME * 2:
            chunk = bytes(self._pcm[:FRAME * 2])
            del self._pcm[:FRAME * 2]
            await self._verdict(self.detector.frame(chunk), "local")

    async def words(self, text: str) -> None:
        await self._verdict(self.detector.words(text), "local")


class ScreenGate(FrameProcessor):
    def __init__(self, screening: Screening, **kwargs: Any):
        super().__init__(**kwargs)
        self.screening = screening

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        screening = self.screening
        if direction == FrameDirection.DOWNSTREAM and not screening.decided:
            if isinstance(frame, InputAudioRawFrame):
                await screening.audio(frame.audio)
            elif isinstance(frame, TranscriptionFrame):
                await screening.words(frame.text)
        if direction == FrameDirection.DOWNSTREAM and isinstance(frame, HELD):
            if screening.closed:
                return
            # Words of what the callee said before the verdict ("Hello?") arrive after it, from a
            # segmented STT: they are the answer we already acted on, not a turn that would
            # interrupt the greeting. The callee's next utterance starts a turn as usual.
            if isinstance(frame, VADUserStartedSpeakingFrame):
                screening.heard_before = False
            elif screening.heard_before:
                return
        await self.push_frame(frame, direction)
