"""The agent falls silent on the caller's first voiced window, before the VAD has decided.

A barge-in is decided once the caller has spoken ``min_speech_ms`` (the VAD's start_secs), and
Silero needs some 150 ms of a word before its first voiced window: the caller would hear the agent
talk over them for ~350 ms. The duck holds the agent's next outgoing frame from that first voiced
window instead, so the caller hears silence within a frame of it:

- the voice becomes a barge-in: pipecat's interruption drops the rest of the answer and sends
  Twilio ``clear`` as before, and the held frame is dropped with it;
- the voice stops short of one (a cough, a click): the VAD is quiet again and the answer goes on
  where it paused;
- it neither stops nor interrupts within ``max_hold`` (interruptions not possible right now, a
  noisy line): the answer goes on, and the duck stays open until the line is quiet again, so a
  noisy line never silences the agent for more than ``max_hold`` at a time.

A pipeline uses one only when the agent may be interrupted by speech alone (interruptions on,
``min_words`` 0): with ``min_words`` the words decide, and pausing for every voice would break
the agent's sentences for backchannels it is meant to talk over.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable

from pipecat.audio.vad.vad_analyzer import VADState


class Duck:
    def __init__(self, max_hold: float):
        self.max_hold = max_hold
        self._open = asyncio.Event()
        self._open.set()
        self._closed_at: float | None = None
        self._spent = False  # held max_hold, or interrupted, during this voice: open until quiet
        self._interruptions = 0
        self.holds = 0  # how many times it closed (for logs and tests)
        self.dropped = 0  # frames held across an interruption, never sent

    @property
    def holding(self) -> bool:
        return not self._open.is_set()

    def voice(self, state: VADState) -> None:
        """The VAD's state after each analysed window (on the event loop)."""
        if state == VADState.QUIET:
            self._spent = False
            self._closed_at = None
            self._open.set()
        elif not self._spent and self._open.is_set():
            self._closed_at = time.monotonic()
            self.holds += 1
            self._open.clear()

    def cleared(self) -> None:
        """The transport is sending Twilio ``clear`` for a barge-in: pipecat has dropped the answer's
        queued audio, and the held frame belongs to that answer too."""
        self._interruptions += 1
        self._spent = True
        self._open.set()

    async def wait(self) -> None:
        """Returns when the agent's next frame may go out."""
        if self._open.is_set() or self._closed_at is None:
            return
        remaining = self._closed_at + self.max_hold - time.monotonic()
        try:
            await asyncio.wait_for(self._open.wait(), timeout=max(0.0, remaining))
        except asyncio.TimeoutError:
            self._spent = True
            self._open.set()

    def guard(self, write: Callable[[Any], Awaitable[bool]]) -> Callable[[Any], Awaitable[bool]]:
        """``write`` (an output transport's write_audio_frame), waiting for the duck first."""
        async def write_audio_frame(frame: Any) -> bool:
            # pipecat's interruption keeps the frame being written (it drains only the queue);
            # a frame the duck held across one is the old answer's, so it is not sent. The hold
            # ends at the clear, not at the decision: released earlier, it would let out frames
            # still queued for the transport before the interruption reaches it.
            before = self._interruptions
            await self.wait()
            if self._interruptions != before:
                self.dropped += 1
                return False
            return await write(frame)

        return write_audio_frame
