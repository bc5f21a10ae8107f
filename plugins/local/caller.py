"""A simulated phone caller that speaks Twilio's protocols to a runner.

It does what Twilio and a person would: signs and posts the voice webhook, follows the TwiML to
the Media Streams WebSocket, streams 20 ms mu-law frames on a real-time clock (silence between
lines, Piper speech for lines), plays what the agent sends through a real-time playout buffer
(emptied by ``clear``, as Twilio does), and recognises what it heard with Whisper.

It measures, from its own side of the wire:
- response_ms: its last speech frame sent -> the agent's first audio frame received
- clear_ms (barge-in): its first interrupting frame sent -> ``clear`` received
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import urlencode
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx
import numpy as np

from cb.contracts.voice_webhook_auth import sign

from . import speech

FRAME_SECS = 0.02


@dataclass(frozen=True)
class Line:
    """One thing the caller says. By default it waits for the agent to finish its turn; with
    ``barge_in_after_ms`` it talks over the agent that long after the agent starts speaking."""

    say: str
    barge_in_after_ms: int | None = None
    pause_ms: int = 300  # silence after the agent stops before speaking
    wait_for_agent: bool = True  # wait until the agent has said something since the last line


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
    ended_by: str = ""  # agent (the runner closed the stream) | caller


class SimulatedCaller:
    def __init__(self, runner_url: str, token: str, *, to_number: str, from_number: str = "+15005550006",
                 lines: list[Line], context: dict[str, Any] | None = None, agent: str | None = None,
                 on_heard: Callable[[Heard], None] | None = None, agent_gap_ms: int = 700,
                 turn_timeout_secs: float = 20.0, hangup_after_secs: float = 4.0):
        self.url = runner_url.rstrip("/")
        self.token = token
        self.to_number, self.from_number = to_number, from_number
        self.lines = lines
        self.context = context
        self.agent = agent  # route to this agent instead of by number (honoured for local calls only)
        self.on_heard = on_heard
        self.agent_gap = agent_gap_ms / 1000
        self.turn_timeout = turn_timeout_secs
        self.hangup_after = hangup_after_secs
        self.result = CallResult()
        # playout state
        self._outbox: list[bytes] = []  # caller frames still to send
        self._playout = bytearray()  # agent audio received, not yet "played"
        self._heard_pcm = bytearray()  # agent audio played in the current utterance
        self._agent_silent_since = time.monotonic()
        self._agent_started_at: float | None = None
        self._last_caller_frame_at: float | None = None
        self._barge_started_at: float | None = None
        self._awaiting_response = False
        self._closed = asyncio.Event()
        self._t0 = time.monotonic()
        self._transcribing: list[asyncio.Task] = []
        self._agent_utterances = 0  # utterances heard since the caller last spoke

    # ------------------------------------------------------------------ webhook
    async def _webhook(self) -> tuple[str, dict[str, str]] | None:
        form = {"CallSid": "CA" + uuid.uuid4().hex, "AccountSid": "AC" + "0" * 32, "From": self.from_number,
                "To": self.to_number, "Direction": "inbound", "CallStatus": "ringing", "ApiVersion": "2010-04-01"}
        query = {k: v for k, v in (("agent", self.agent), ("context", json.dumps(self.context) if self.context else None)) if v}
        url = self.url + "/twilio/voice" + (f"?{urlencode(query)}" if query else "")
        async with httpx.AsyncClient(timeout=30) as client:
            resp = await client.post(url, data=form, headers={"X-Twilio-Signature": sign(url, form, self.token)})
        if resp.status_code != 200:
            self.result.refused = f"webhook answered {resp.status_code}: {resp.text.strip()[:200]}"
            return None
        root = ET.fromstring(resp.text)
        stream = root.find("./Connect/Stream")
        if stream is None:
            self.result.refused = "TwiML without <Connect><Stream>: " + resp.text
            return None
        params = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
        self._call_sid = form["CallSid"]
        return stream.get("url", ""), params

    # ------------------------------------------------------------------ media
    def _heard(self, role: str, text: str, at: float | None = None) -> None:
        if not text:
            return
        item = Heard(role, text, round(((at or time.monotonic()) - self._t0) * 1000))
        self.result.transcript.append(item)
        if self.on_heard:
            self.on_heard(item)

    def _agent_speaking(self) -> bool:
        return bool(self._playout)

    async def _sender(self, ws: Any, stream_sid: str) -> None:
        """One frame every 20 ms on an absolute clock; plays agent audio out at the same pace."""
        seq, next_at = 0, time.monotonic()
        while not self._closed.is_set():
            now = time.monotonic()
            if self._outbox:
                payload = self._outbox.pop(0)
                self._last_caller_frame_at = now
            else:
                payload = speech.SILENCE
            seq += 1
            try:
                await ws.send(json.dumps({"event": "media", "sequenceNumber": str(seq), "streamSid": stream_sid,
                                          "media": {"track": "inbound", "chunk": str(seq),
                                                    "timestamp": str(seq * 20), "payload": base64.b64encode(payload).decode()}}))
            except Exception:  # noqa: BLE001 - the runner hung up
                self.result.ended_by = self.result.ended_by or "agent"
                self._closed.set()
                return
            self._play_one_frame(now)
            next_at += FRAME_SECS
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    def _play_one_frame(self, now: float) -> None:
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

    async def _receiver(self, ws: Any) -> None:
        try:
            async for raw in ws:
                message = json.loads(raw)
                event = message.get("event")
                now = time.monotonic()
                if event == "media":
                    if self._awaiting_response and self._last_caller_frame_at and not self._outbox:
                        self.result.response_ms.append(round((now - self._last_caller_frame_at) * 1000, 1))
                        self._awaiting_response = False
                    if not self._playout and self._agent_started_at is None:
                        self._agent_started_at = now
                    self._playout += base64.b64decode(message["media"]["payload"])
                    self._agent_silent_since = now
                elif event == "clear":
                    self.result.clears += 1
                    if self._barge_started_at is not None:
                        self.result.clear_ms.append(round((now - self._barge_started_at) * 1000, 1))
                        self._barge_started_at = None
                    self._playout.clear()  # Twilio drops what it had buffered
        except Exception:  # noqa: BLE001 - closed by the runner: that is how an agent hangs up
            pass
        if not self._closed.is_set():
            self.result.ended_by = self.result.ended_by or "agent"
        self._closed.set()

    async def _wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not self._closed.is_set():
            if predicate():
                return True
            await asyncio.sleep(FRAME_SECS)
        return predicate()

    def _agent_done(self) -> bool:
        return not self._playout and time.monotonic() - self._agent_silent_since >= self.agent_gap

    async def _speak(self, line: Line) -> None:
        pcm = await asyncio.to_thread(speech.synthesize, line.say)
        # Send the voice only: response_ms counts from the last frame sent, which must be speech.
        pcm = speech.voiced(np.frombuffer(pcm, dtype=np.int16)).tobytes()
        ulaw = speech.ulaw_encode(pcm)
        frames = [ulaw[i:i + speech.FRAME_BYTES].ljust(speech.FRAME_BYTES, b"\xff")
                  for i in range(0, len(ulaw), speech.FRAME_BYTES)]
        if line.barge_in_after_ms is not None:
            await self._wait(lambda: self._agent_started_at is not None, self.turn_timeout)
            if self._agent_started_at is not None:
                await asyncio.sleep(max(0.0, self._agent_started_at + line.barge_in_after_ms / 1000 - time.monotonic()))
            self._barge_started_at = time.monotonic()
        else:
            if line.wait_for_agent:
                await self._wait(lambda: self._agent_utterances > 0, self.turn_timeout)
            await self._wait(self._agent_done, self.turn_timeout)
            await asyncio.sleep(line.pause_ms / 1000)
        self._agent_utterances = 0
        began = time.monotonic()
        self._outbox.extend(frames)
        self._awaiting_response = True
        if self._transcribing:  # print what the agent said before what the caller says over it
            await asyncio.gather(*self._transcribing)
        self._heard("caller", line.say, began)
        await self._wait(lambda: not self._outbox, len(frames) * FRAME_SECS + 5)
        if self._heard_pcm and not self._playout:  # what we talked over ends here, unanswered
            self._flush_heard()
        self._agent_utterances = 0  # the next line waits for the answer to this one

    async def run(self) -> CallResult:
        import websockets

        target = await self._webhook()
        if target is None:
            return self.result
        ws_url, params = target
        self.result.call_id = params.get("call_id")
        stream_sid = "MZ" + uuid.uuid4().hex
        async with websockets.connect(ws_url, max_size=None) as ws:
            await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
            await ws.send(json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": stream_sid, "start": {
                "streamSid": stream_sid, "accountSid": "AC" + "0" * 32, "callSid": self._call_sid,
                "tracks": ["inbound"], "customParameters": params,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))
            sender = asyncio.create_task(self._sender(ws, stream_sid))
            receiver = asyncio.create_task(self._receiver(ws))
            for line in self.lines:
                if self._closed.is_set():
                    break
                await self._speak(line)
            # Let the agent answer the last line (or hang up), then hang up ourselves.
            await self._wait(lambda: self._agent_done() and not self._awaiting_response, self.turn_timeout)
            await self._wait(lambda: False, self.hangup_after) if not self._closed.is_set() else None
            if not self._closed.is_set():
                self.result.ended_by = "caller"
                self._closed.set()
                try:
                    await ws.send(json.dumps({"event": "stop", "streamSid": stream_sid,
                                              "stop": {"accountSid": "AC" + "0" * 32, "callSid": self._call_sid}}))
                except Exception:  # noqa: BLE001
                    pass
            await sender
            receiver.cancel()
        if self._heard_pcm:
            self._flush_heard()
        if self._transcribing:
            await asyncio.gather(*self._transcribing)
        self.result.transcript.sort(key=lambda h: h.at_ms)
        return self.result
