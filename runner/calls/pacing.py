"""The agent's audio goes out a few frames ahead of the caller's ear, so a late write is no gap.

pipecat's websocket output writes each 20 ms ``media`` message at exactly real time from the
first (``FastAPIWebsocketOutputTransport._write_audio_sleep``): Twilio (or the SIP gateway's RTP
queue) holds a frame or two at most, so an event loop that runs late by more than that, or a
packet the network holds back, is a gap the caller hears, and the clock restarts from the late
write, so the time is never made up (bench/README.md, "What the caller hears": 1,283 such gaps in
a five-minute call at load 14-25).

``Lead`` keeps ``lead`` seconds of the answer queued at the far end instead (``lead`` plus the frame
just written, right after a write): writes go out at once until the far end holds that much, then
one per frame. After a stall the writes catch up; only a stall longer than the lead is heard, and
the clock restarts from then.
What the lead costs: a barge-in's ``clear`` empties the far end's queue, so an interruption is
as quick as before; the duck's pause (duck.py) only stops writing, so the caller hears up to
``lead`` (plus a frame) more of the answer after their first sound. That is why it is short:
60 ms, three frames. ``CB_AUDIO_LEAD_MS`` sets it (0 is pipecat's real-time pacing, for before/after
benchmarks; a runner far from its Twilio region may want 100).
"""

from __future__ import annotations

import asyncio
import math
import os
import time

DEFAULT_LEAD_MS = 60.0


def lead_secs(env: dict[str, str] | None = None) -> float:
    """``CB_AUDIO_LEAD_MS`` in seconds; `cb runner` reads it at start, so a bad value stops it there, named."""
    raw = (os.environ if env is None else env).get("CB_AUDIO_LEAD_MS", "").strip()
    if not raw:
        return DEFAULT_LEAD_MS / 1000
    try:
        ms = float(raw)
    except ValueError:
        ms = math.nan
    if not (math.isfinite(ms) and 0 <= ms <= 1000):
        raise ValueError(f"CB_AUDIO_LEAD_MS={raw!r} is not a lead in milliseconds: give 0-1000 "
                         f"({DEFAULT_LEAD_MS:.0f} is the default, 0 pipecat's real-time pacing)")
    return ms / 1000


class Lead:
    def __init__(self, frame_secs: float, lead: float):
        self.frame_secs, self.lead = frame_secs, lead
        self.heard_until = 0.0  # when the far end will have played everything written (monotonic)
        self.restarts = 0  # writes that found the far end already silent: a gap, or an answer's start

    def reset(self) -> None:
        """A ``clear`` went out: the far end holds nothing."""
        self.heard_until = 0.0

    async def written(self) -> None:
        """One frame was written: wait until the far end holds ``lead`` (a stall that long is no gap)."""
        now = time.monotonic()
        if self.heard_until < now:
            self.restarts += 1
            self.heard_until = now
        self.heard_until += self.frame_secs
        wait = self.heard_until - self.lead - now
        if wait > 0:
            await asyncio.sleep(wait)


def install(output, frame_secs: float, lead: float) -> Lead:
    """Replace the websocket output transport's real-time sleep with a ``Lead``.

    pipecat resets its own clock on an interruption (``_next_send_time = 0``); the caller of this
    resets the lead when the serializer writes the ``clear`` (pipeline.Serializer's ``on_clear``)."""
    pacer = Lead(frame_secs, lead)
    output._write_audio_sleep = pacer.written  # pipecat 1.14: called after each audio write
    return pacer
