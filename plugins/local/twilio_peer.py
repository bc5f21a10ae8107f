"""Twilio's side of a call, as a runner sees it: the one wire both simulated callers speak.

``TwilioPeer`` signs and posts the voice webhook, follows the TwiML to the Media Streams
WebSocket, says ``connected`` and ``start``, then sends one 20 ms mu-law frame on an absolute
clock whatever else is going on (the next frame of ``outbox``, else silence), and ``stop`` when
the caller hangs up. It keeps the raw ``Trace``: the send time and audio of every frame it sent,
and the arrival time of every agent frame and ``clear``. Everything is time.monotonic().

What to say and when (``talk``) and what to do with what arrives (``_played``, ``_media``,
``_clear``) is the caller's: ``cb call``'s SimulatedCaller (caller.py) listens with Whisper through
a playout buffer; the benchmark's caller (bench/caller.py) turns the trace into figures after the
call. The hot path does no more than a real peer would, so a hundred fit beside a runner on two
cores: a frame's message is filled into a template, and a received message is told apart by its
first bytes, never parsed here.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlencode

import httpx

from cb.contracts.voice_webhook_auth import sign

RATE = 8000
FRAME_SAMPLES = 160  # 20 ms of 8 kHz mu-law, one byte a sample
FRAME_SECS = FRAME_SAMPLES / RATE
ACCOUNT_SID = "AC" + "0" * 32
MEDIA = ('{"event": "media", "sequenceNumber": "%d", "streamSid": "%s", "media": '
         '{"track": "inbound", "chunk": "%d", "timestamp": "%d", "payload": "%s"}}')
SILENCE_B64 = base64.b64encode(b"\xff" * FRAME_SAMPLES).decode()  # mu-law zero


@dataclass
class Trace:
    """Everything the peer saw, raw."""

    call_id: str | None = None
    refused: str | None = None
    error: str | None = None
    sent_at: list[float] = field(default_factory=list)  # per frame sent
    sent_audio: list[bytes | None] = field(default_factory=list)  # None = silence
    media_at: list[float] = field(default_factory=list)  # agent frames received
    clear_at: list[float] = field(default_factory=list)
    send_lag: list[float] = field(default_factory=list)  # how late each frame left (caller's own load)
    started: float = 0.0
    ended: float = 0.0


class TwilioPeer:
    """One call into a runner. Subclasses say what the caller does in ``talk``; ``call`` places
    it, streams until ``talk`` returns or the runner hangs up, then hangs up itself."""

    def __init__(self, runner_url: str, token: str, *, to_number: str, from_number: str = "+15005550006",
                 query: dict[str, str] | None = None, trace: Trace | None = None):
        self.url = runner_url.rstrip("/")
        self.token = token
        self.to_number, self.from_number = to_number, from_number
        self.query = query or {}  # on the webhook URL (e.g. agent, context for a local call)
        self.trace = trace if trace is not None else Trace()
        self.outbox: deque[bytes] = deque()  # caller frames still to send, FRAME_SAMPLES each
        self.last_voice_sent: float | None = None  # when the last outbox frame left
        self.closed = asyncio.Event()
        self.hung_up = False  # the caller ended the call (else the runner did)
        self.call_sid = "CA" + uuid.uuid4().hex

    # ------------------------------------------------------------------ what a caller adds
    async def talk(self) -> None:
        """The caller's side of the conversation; the call ends when it returns."""

    def _played(self, now: float) -> None:
        """After each frame sent: one 20 ms tick of the caller's clock."""

    def _media(self, raw: str, now: float) -> None:
        """An agent frame arrived (``raw`` is the whole message)."""

    def _clear(self, now: float) -> None:
        """``clear`` arrived: Twilio drops what it had buffered."""

    # ------------------------------------------------------------------ the wire
    @property
    def last_media(self) -> float:
        return self.trace.media_at[-1] if self.trace.media_at else 0.0

    async def until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait for ``predicate`` (polled every 10 ms) while the call lasts; its final value."""
        end = time.monotonic() + timeout
        while not self.closed.is_set() and time.monotonic() < end:
            if predicate():
                return True
            await asyncio.sleep(0.01)
        return predicate()

    async def _webhook(self) -> tuple[str, dict[str, str]] | None:
        form = {"CallSid": self.call_sid, "AccountSid": ACCOUNT_SID, "From": self.from_number,
                "To": self.to_number, "Direction": "inbound", "CallStatus": "ringing", "ApiVersion": "2010-04-01"}
        url = self.url + "/twilio/voice" + (f"?{urlencode(self.query)}" if self.query else "")
        async with httpx.AsyncClient(timeout=30) as client:
            resp = await client.post(url, data=form, headers={"X-Twilio-Signature": sign(url, form, self.token)})
        if resp.status_code != 200:
            self.trace.refused = f"webhook answered {resp.status_code}: {resp.text.strip()[:200]}"
            return None
        stream = ET.fromstring(resp.text).find("./Connect/Stream")
        if stream is None:
            self.trace.refused = "TwiML without <Connect><Stream>: " + resp.text
            return None
        return stream.get("url", ""), {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}

    async def _sender(self, ws: Any, sid: str) -> None:
        trace, outbox = self.trace, self.outbox
        n, next_at = 0, time.monotonic()
        while not self.closed.is_set():
            payload = outbox.popleft() if outbox else None
            b64 = SILENCE_B64 if payload is None else base64.b64encode(payload).decode()
            message = MEDIA % (n + 2, sid, n + 1, n * 20, b64)  # "start" was sequence 1
            now = time.monotonic()
            if payload is not None:
                self.last_voice_sent = now
            try:
                await ws.send(message)
            except Exception:  # noqa: BLE001 - the runner hung up
                self.closed.set()
                return
            trace.sent_at.append(now)
            trace.sent_audio.append(payload)
            trace.send_lag.append(now - next_at)
            self._played(now)
            n += 1
            next_at += FRAME_SECS
            delay = next_at - time.monotonic()
            if delay < -0.2:  # hopelessly late (the machine stalled): resynchronise, as a phone would
                next_at = time.monotonic()
                delay = 0
            await asyncio.sleep(max(0.0, delay))

    async def _receiver(self, ws: Any) -> None:
        trace = self.trace
        try:
            async for raw in ws:
                now = time.monotonic()
                if raw.startswith('{"event": "media"'):
                    trace.media_at.append(now)
                    self._media(raw, now)
                elif '"clear"' in raw[:40]:
                    trace.clear_at.append(now)
                    self._clear(now)
        except Exception:  # noqa: BLE001 - closed by the runner: that is how an agent hangs up
            pass
        self.closed.set()

    async def _hang_up(self, ws: Any, sid: str) -> None:
        if not self.closed.is_set():
            self.hung_up = True
        self.closed.set()
        try:
            await ws.send(json.dumps({"event": "stop", "streamSid": sid,
                                      "stop": {"accountSid": ACCOUNT_SID, "callSid": self.call_sid}}))
        except Exception:  # noqa: BLE001 - the runner is gone already
            pass

    async def call(self) -> Trace:
        """Place the call and run ``talk`` on it. A refused call returns with ``trace.refused``."""
        import websockets

        trace = self.trace
        trace.started = time.monotonic()
        try:
            target = await self._webhook()
            if target is None:
                return trace
            ws_url, params = target
            trace.call_id = params.get("call_id")
            sid = "MZ" + uuid.uuid4().hex
            async with websockets.connect(ws_url, max_size=None, compression=None) as ws:
                await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
                await ws.send(json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": sid, "start": {
                    "streamSid": sid, "accountSid": ACCOUNT_SID, "callSid": self.call_sid,
                    "tracks": ["inbound"], "customParameters": params,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": RATE, "channels": 1}}}))
                sender = asyncio.create_task(self._sender(ws, sid))
                receiver = asyncio.create_task(self._receiver(ws))
                try:
                    await self.talk()
                finally:
                    await self._hang_up(ws, sid)
                    await sender
                    receiver.cancel()
        finally:
            trace.ended = time.monotonic()
        return trace
