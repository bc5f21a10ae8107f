"""A simulated phone caller for ``cb call --local`` and the end-to-end tests: a person on a phone.

Twilio's side of the wire (webhook, Media Streams, 20 ms frames on an absolute clock) is
``TwilioPeer``'s; on top of it this caller speaks its lines with Piper (silence between them),
plays what the agent sends through a real-time playout buffer (emptied by ``clear``, as Twilio
does), and recognises what it heard with Whisper.

It measures, from its own side of the wire:
- response_ms: its last speech frame sent -> the agent's first audio frame received
- clear_ms (barge-in): its first interrupting frame sent -> ``clear`` received
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import speech
from .twilio_peer import FRAME_SECS, TwilioPeer


@dataclass(frozen=True)
class Line:
    """One thing the caller says. By default it waits for the agent to finish its turn; with
    ``barge_in_after_ms`` it talks over the agent that long after the agent starts speaking."""

    say: str
    barge_in_after_ms: int | None = None
    pause_ms: int = 300  # silence after the agent stops before speaking
    wait_for_agent: bool = True  # wait until the agent has said something since the last line
    then: str | None = None  # said after ``gap_ms`` of silence: a caller pausing mid-sentence
    gap_ms: int = 500

    @property
    def text(self) -> str:
        return f"{self.say} {self.then}" if self.then else self.say


@dataclass
class Heard:
    role: str  # caller | agent
    text: str
    at_ms: int


@dataclass
class CallResult:
    call_id: str | None = None
    refused: str | None = None
    transcript: list[Heard] = field(default_factory=list)
    response_ms: list[float] = field(default_factory=list)
    clear_ms: list[float] = field(default_factory=list)
    clears: int = 0
    talked_over: int = 0  # agent frames that arrived while the caller still had a line to send
    ended_by: str = ""  # agent (the runner closed the stream) | caller


class SimulatedCaller(TwilioPeer):
    def __init__(self, runner_url: str, token: str, *, to_number: str, from_number: str = "+15005550006",
                 lines: list[Line], context: dict[str, Any] | None = None, agent: str | None = None,
                 on_heard: Callable[[Heard], None] | None = None, agent_gap_ms: int = 700,
                 turn_timeout_secs: float = 20.0, hangup_after_secs: float = 4.0):
        # ``agent`` routes to that agent instead of by number (honoured for local calls only).
        query = {k: v for k, v in (("agent", agent), ("context", json.dumps(context) if context else None)) if v}
        super().__init__(runner_url, token, to_number=to_number, from_number=from_number, query=query)
        self.lines = lines
        self.on_heard = on_heard
        self.agent_gap = agent_gap_ms / 1000
        self.turn_timeout = turn_timeout_secs
        self.hangup_after = hangup_after_secs
        self.result = CallResult()
        # playout state
        self._playout = bytearray()  # agent audio received, not yet "played"
        self._heard_pcm = bytearray()  # agent audio played in the current utterance
        self._agent_silent_since = time.monotonic()
        self._agent_started_at: float | None = None
        self._barge_started_at: float | None = None
        self._awaiting_response = False
        self._t0 = time.monotonic()
        self._transcribing: list[asyncio.Task] = []
        self._agent_utterances = 0  # utterances heard since the caller last spoke

    def _heard(self, role: str, text: str, at: float | None = None) -> None:
        if not text:
            return
        item = Heard(role, text, round(((at or time.monotonic()) - self._t0) * 1000))
        self.result.transcript.append(item)
        if self.on_heard:
            self.on_heard(item)

    # ------------------------------------------------------------------ listening
    def _media(self, raw: str, now: float) -> None:
        if self._awaiting_response and self.outbox:
            self.result.talked_over += 1
        if self._awaiting_response and self.last_voice_sent and not self.outbox:
            self.result.response_ms.append(round((now - self.last_voice_sent) * 1000, 1))
            self._awaiting_response = False
        if not self._playout and self._agent_started_at is None:
            self._agent_started_at = now
        self._playout += base64.b64decode(json.loads(raw)["media"]["payload"])
        self._agent_silent_since = now

    def _clear(self, now: float) -> None:
        self.result.clears += 1
        if self._barge_started_at is not None:
            self.result.clear_ms.append(round((now - self._barge_started_at) * 1000, 1))
            self._barge_started_at = None
        self._playout.clear()  # Twilio drops what it had buffered

    def _played(self, now: float) -> None:
        """Play agent audio out at the pace the caller sends its own."""
        if self._playout:
            frame = bytes(self._playout[:speech.FRAME_BYTES])
            del self._playout[:speech.FRAME_BYTES]
            self._heard_pcm += speech.ulaw_decode(frame)
            self._agent_silent_since = now
        elif self._heard_pcm and now - self._agent_silent_since >= self.agent_gap:
            self._flush_heard()

    def _flush_heard(self) -> None:
        pcm, self._heard_pcm = bytes(self._heard_pcm), bytearray()
        self._agent_utterances += 1
        began = time.monotonic() - len(pcm) / 2 / speech.TELEPHONE_RATE - self.agent_gap
        self._agent_started_at = None

        async def run() -> None:
            self._heard("agent", await asyncio.to_thread(speech.transcribe, pcm), began)

        self._transcribing.append(asyncio.create_task(run()))

    def _agent_done(self) -> bool:
        return not self._playout and time.monotonic() - self._agent_silent_since >= self.agent_gap

    # ------------------------------------------------------------------ speaking
    async def _speak(self, line: Line) -> None:
        parts = [line.say] + ([line.then] if line.then else [])
        # Send the voice only: response_ms counts from the last frame sent, which must be speech.
        voiced = [speech.voiced(np.frombuffer(await asyncio.to_thread(speech.synthesize, t), dtype=np.int16))
                  for t in parts]
        gap = np.zeros(speech.TELEPHONE_RATE * line.gap_ms // 1000, dtype=np.int16)
        pcm = np.concatenate([voiced[0], *(piece for v in voiced[1:] for piece in (gap, v))]).tobytes()
        ulaw = speech.ulaw_encode(pcm)
        frames = [ulaw[i:i + speech.FRAME_BYTES].ljust(speech.FRAME_BYTES, b"\xff")
                  for i in range(0, len(ulaw), speech.FRAME_BYTES)]
        if line.barge_in_after_ms is not None:
            await self.until(lambda: self._agent_started_at is not None, self.turn_timeout)
            if self._agent_started_at is not None:
                await asyncio.sleep(max(0.0, self._agent_started_at + line.barge_in_after_ms / 1000 - time.monotonic()))
            self._barge_started_at = time.monotonic()
        else:
            if line.wait_for_agent:
                await self.until(lambda: self._agent_utterances > 0, self.turn_timeout)
            await self.until(self._agent_done, self.turn_timeout)
            await asyncio.sleep(line.pause_ms / 1000)
        self._agent_utterances = 0
        began = time.monotonic()
        self.outbox.extend(frames)
        self._awaiting_response = True
        if self._transcribing:  # print what the agent said before what the caller says over it
            await asyncio.gather(*self._transcribing)
        self._heard("caller", line.text, began)
        await self.until(lambda: not self.outbox, len(frames) * FRAME_SECS + 5)
        if self._heard_pcm and not self._playout:  # what we talked over ends here, unanswered
            self._flush_heard()
        self._agent_utterances = 0  # the next line waits for the answer to this one

    async def talk(self) -> None:
        for line in self.lines:
            if self.closed.is_set():
                break
            await self._speak(line)
        # Let the agent answer the last line (or hang up), then hang up ourselves.
        await self.until(lambda: self._agent_done() and not self._awaiting_response, self.turn_timeout)
        if not self.closed.is_set():
            await self.until(lambda: False, self.hangup_after)

    async def run(self) -> CallResult:
        trace = await self.call()
        self.result.call_id, self.result.refused = trace.call_id, trace.refused
        if trace.refused:
            return self.result
        self.result.ended_by = "caller" if self.hung_up else "agent"
        if self._heard_pcm:
            self._flush_heard()
        if self._transcribing:
            await asyncio.gather(*self._transcribing)
        self.result.transcript.sort(key=lambda h: h.at_ms)
        return self.result
