"""The simulated callee of an outbound call on the local provider: a person, or an answering machine.

The local dialer (dialer.py) plays the phone network: it posts the call's status callbacks
(initiated, ringing, then in-progress or busy / no-answer / failed, and completed with its
duration), signed with the runner's local token as Twilio signs with the auth token, and on
answer the callee fetches the signed voice URL and streams over Media Streams (``TwilioPeer``).

- ``Person``: says its first line as it picks up ("Hello?"), then the rest turn by turn, as the
  ``SimulatedCaller`` does on an inbound call.
- ``AnsweringMachine``: plays its greeting, then silence for ``beep_after_ms``, then a beep (a
  steady tone), then records until the agent hangs up or ``record_secs`` pass. It keeps when the
  greeting and the beep ended (``marks``), so a test can prove nothing was spoken over them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np

from . import speech
from .caller import Line, SimulatedCaller
from .twilio_peer import FRAME_SECS, TwilioPeer


def tone_frames(hz: int, ms: int, level: float = 0.3) -> list[bytes]:
    t = np.arange(int(speech.TELEPHONE_RATE * ms / 1000)) / speech.TELEPHONE_RATE
    pcm = (np.sin(2 * np.pi * hz * t) * 32767 * level).astype(np.int16).tobytes()
    return frames_of(speech.ulaw_encode(pcm))


def frames_of(ulaw: bytes) -> list[bytes]:
    return [ulaw[i:i + speech.FRAME_BYTES].ljust(speech.FRAME_BYTES, b"\xff")
            for i in range(0, len(ulaw), speech.FRAME_BYTES)]


def person_lines(lines: list[Any]) -> list[Line]:
    """The callee's lines: the first is said as it picks up, the others after the agent speaks."""
    out = []
    for i, raw in enumerate(lines or ["Hello?"]):
        say, pause = (raw, 300) if isinstance(raw, str) else (raw["say"], int(raw.get("pause_ms", 300)))
        out.append(Line(say, pause_ms=0 if i == 0 else pause, wait_for_agent=i > 0))
    return out


class Person(SimulatedCaller):
    """A person answering: no Whisper in the runner's process (the record has the transcript)."""

    def _flush_heard(self) -> None:
        self._heard_pcm = bytearray()
        self._agent_utterances += 1
        self._agent_started_at = None


class AnsweringMachine(TwilioPeer):
    def __init__(self, runner_url: str, token: str, *, machine: dict[str, Any], **kwargs: Any):
        super().__init__(runner_url, token, **kwargs)
        self.machine = machine
        self.marks: dict[str, float] = {}  # greeting_end, beep_start, beep_end (time.monotonic)
        self.greeting_frames: list[bytes] = []

    async def prepare(self) -> None:
        pcm = await asyncio.to_thread(speech.synthesize, self.machine["greeting"])
        pcm = speech.voiced(np.frombuffer(pcm, dtype=np.int16)).tobytes()
        self.greeting_frames = frames_of(speech.ulaw_encode(pcm))

    async def talk(self) -> None:
        m = self.machine
        self.outbox.extend(self.greeting_frames)
        await self.until(lambda: not self.outbox, len(self.greeting_frames) * FRAME_SECS + 5)
        self.marks["greeting_end"] = time.monotonic()
        if m.get("beep_after_ms") is not None:
            await self.until(lambda: False, m["beep_after_ms"] / 1000)
            beep = tone_frames(int(m.get("beep_hz", 1400)), int(m.get("beep_ms", 500)))
            self.marks["beep_start"] = time.monotonic()
            self.outbox.extend(beep)
            await self.until(lambda: not self.outbox, len(beep) * FRAME_SECS + 5)
            self.marks["beep_end"] = time.monotonic()
        await self.until(lambda: False, float(m.get("record_secs", 20)))
