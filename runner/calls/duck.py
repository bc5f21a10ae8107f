"""The agent falls silent on the caller's first sound, before anything has decided what it was.

A barge-in is decided on words or on a voice that goes on (backchannel.py), and even Silero needs
some 150 ms of a word before its first voiced window: the caller would hear the agent talk over
them all that time. The duck holds the agent's next outgoing frame from the caller's first sound
instead (``close``), so the caller hears silence within a frame or two of it:

- the sound becomes a barge-in: pipecat's interruption drops the rest of the answer and sends
  Twilio ``clear`` (``cleared``), and the held frame is dropped with it;
- it was a backchannel, a cough, a click (``open``): the answer goes on from the frame it paused
  on, nothing regenerated;
- nothing decides within ``max_hold`` (a noisy line, an STT that never answers): the answer goes
  on, and the duck closes again only for the caller's next sound, so a noisy line never silences
  the agent for more than ``max_hold`` at a time.

A pipeline uses one only when the agent may be interrupted by speech alone (interruptions on,
``min_words`` 0): with ``min_words`` the words decide, and pausing for every voice would break
the agent's sentences for talk it is meant to go on over.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable

# The longest pause: an "mm-hm" (0.7 s), the VAD's stop (0.2 s) and a slow STT's words (backchannel.py
# WORDS_WAIT_SECS). LiveKit resumes a false interruption after 2 s (false_interruption_timeout).
MAX_HOLD_SECS = 2.5


class Duck:
    def __init__(self, max_hold: float):
        self.max_hold = max_hold
        self._open = asyncio.Event()
        self._open.set()
        self._closed_at: float | None = None
        self._hold_from: float | None = None  # max_hold counts from here: the latest sound's onset
        self._interruptions = 0
        self.holds = 0  # how many times it closed (for logs and tests)
        self.resumed = 0  # ... and opened again without an interruption: the agent went on
        self.held_secs = 0.0  # how long it was closed before those resumes, in all
        self.dropped = 0  # frames held across an interruption, never sent

    @property
    def holding(self) -> bool:
        return not self._open.is_set()

    def close(self) -> None:
        """The caller made a sound over the agent: hold its next frame."""
        if self._open.is_set():
            self._closed_at = self._hold_from = time.monotonic()
            self.holds += 1
            self._open.clear()

    def renew(self) -> None:
        """A new sound began while holding: ``max_hold`` counts from it (an "mm-hm" and then an
        interruption before its words came must not let the agent go on over the interruption)."""
        if not self._open.is_set():
            self._hold_from = time.monotonic()

    def open(self) -> None:
        """The sound was no barge-in: the agent goes on where it paused."""
        if not self._open.is_set() and self._closed_at is not None:
            self.resumed += 1
            self.held_secs += time.monotonic() - self._closed_at
        self._closed_at = None
        self._open.set()

    def cleared(self) -> None:
        """The transport is sending Twilio ``clear`` for a barge-in: pipecat has dropped the answer's
        queued audio, and the held frame belongs to that answer too."""
        self._interruptions += 1
        self._closed_at = None
        self._open.set()

    async def wait(self) -> None:
        """Returns when the agent's next frame may go out."""
        if self._open.is_set() or self._hold_from is None:
            return
        while not self._open.is_set():
            remaining = self._hold_from + self.max_hold - time.monotonic()
            if remaining <= 0:
                self.open()
                return
            try:
                await asyncio.wait_for(self._open.wait(), timeout=remaining)
            except asyncio.TimeoutError:
                pass  # renewed meanwhile, or its time is up: the loop looks again

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
