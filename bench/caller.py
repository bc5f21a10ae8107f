"""The benchmark caller: Twilio's side of a call, with a stopwatch on every frame.

It signs and posts the voice webhook, follows the TwiML to the Media Streams WebSocket and sends
a 20 ms mu-law frame on an absolute clock, as Twilio does, whatever else is going on. It keeps the
send time of every frame it sent and the arrival time of every frame and ``clear`` it received,
and runs a script of steps: speak a turn (after the agent has finished), talk over the agent
(barge-in), or make a short noise over it (a cough, an "mm-hm").

Time model: a frame carries the 20 ms of audio captured just before it is sent, so the sample at
offset k of a frame sent at t was captured at t - (159 - k) / 8000 s. Latencies start at the
captured time of the caller's sample and end at the arrival of the agent's frame (a real phone
starts playing it then). Everything is time.monotonic(); ``analyse`` turns the raw trace into
figures after the call, so the hot path does no more than a real peer would.

Unlike cb.plugins.local.caller (which also listens, with Whisper), this caller never spends CPU
on what the agent says: a hundred of them must fit beside the runner on two cores.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import httpx

from cb.contracts.voice_webhook_auth import sign

from .voice import FRAME_SAMPLES, RATE, ULAW_SILENCE, Utterance

FRAME_SECS = 0.02


@dataclass(frozen=True)
class Step:
    """``turn``: wait until the agent is quiet, then speak. ``barge``/``burst``: wait until the
    agent is talking, ``after_ms`` more, then speak over it (a barge-in should stop the agent, a
    burst should not)."""

    kind: str  # turn | barge | burst
    utterance: Utterance
    after_ms: int = 600
    pause_ms: int = 300  # for a turn: silence after the agent stops, before speaking


@dataclass
class Sent:
    step: Step
    first_frame: int  # global index of the step's first frame
    quiet_after: float | None = None  # for a turn: when the agent's previous utterance ended


@dataclass
class Trace:
    """Everything the caller saw, raw."""

    call_id: str | None = None
    refused: str | None = None
    error: str | None = None
    sent_at: list[float] = field(default_factory=list)  # per frame sent
    sent_audio: list[bytes | None] = field(default_factory=list)  # None = silence
    media_at: list[float] = field(default_factory=list)  # agent frames received
    clear_at: list[float] = field(default_factory=list)
    steps: list[Sent] = field(default_factory=list)
    send_lag: list[float] = field(default_factory=list)  # how late each frame left (caller's own load)
    started: float = 0.0
    ended: float = 0.0

    def captured(self, step: Sent, sample: int) -> float:
        """When the utterance's ``sample`` was captured (see the module's time model)."""
        frame, offset = divmod(sample, FRAME_SAMPLES)
        return self.sent_at[step.first_frame + frame] - (FRAME_SAMPLES - 1 - offset) / RATE


class BenchCaller:
    def __init__(self, runner_url: str, token: str, to_number: str, steps: list[Step], *,
                 quiet_ms: int = 400, step_timeout: float = 20.0, hangup_after_ms: int = 300):
        self.url = runner_url.rstrip("/")
        self.token = token
        self.to_number = to_number
        self.steps = steps
        self.quiet = quiet_ms / 1000
        self.step_timeout = step_timeout
        self.hangup_after = hangup_after_ms / 1000
        self.trace = Trace()
        self._queue: list[bytes] = []
        self._closed = asyncio.Event()
        self._last_media = 0.0
        self._spoke_end = 0.0  # when the caller's last utterance finished sending

    async def _webhook(self) -> tuple[str, dict[str, str]] | None:
        self._call_sid = "CA" + uuid.uuid4().hex
        form = {"CallSid": self._call_sid, "AccountSid": "AC" + "0" * 32, "From": "+15005550006",
                "To": self.to_number, "Direction": "inbound", "CallStatus": "ringing", "ApiVersion": "2010-04-01"}
        url = self.url + "/twilio/voice"
        async with httpx.AsyncClient(timeout=30) as client:
            resp = await client.post(url, data=form, headers={"X-Twilio-Signature": sign(url, form, self.token)})
        stream = ET.fromstring(resp.text).find("./Connect/Stream") if resp.status_code == 200 else None
        if stream is None:
            self.trace.refused = f"{resp.status_code}: {resp.text.strip()[:200]}"
            return None
        return stream.get("url", ""), {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}

    async def _sender(self, ws: Any, sid: str) -> None:
        head = '{"event": "media", "streamSid": "' + sid + '", "media": {"track": "inbound", "payload": "'
        silence = head + base64.b64encode(ULAW_SILENCE).decode() + '"}}'
        trace, queue = self.trace, self._queue
        next_at = time.monotonic()
        while not self._closed.is_set():
            payload = queue.pop(0) if queue else None
            message = silence if payload is None else head + base64.b64encode(payload).decode() + '"}}'
            now = time.monotonic()
            try:
                await ws.send(message)
            except Exception:  # noqa: BLE001 - the runner hung up
                self._closed.set()
                return
            trace.sent_at.append(now)
            trace.sent_audio.append(payload)
            trace.send_lag.append(now - next_at)
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
                    self._last_media = now
                elif '"clear"' in raw[:40]:
                    trace.clear_at.append(now)
        except Exception:  # noqa: BLE001 - closed by the runner
            pass
        self._closed.set()

    async def _until(self, predicate: Any, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while not self._closed.is_set() and time.monotonic() < end:
            if predicate():
                return True
            await asyncio.sleep(0.01)
        return predicate()

    def _agent_quiet(self) -> bool:
        """The agent has answered the caller's last utterance and stopped talking."""
        return self._last_media > self._spoke_end and time.monotonic() - self._last_media >= self.quiet

    def _agent_talking_since(self, since: float) -> bool:
        return self._last_media > since and time.monotonic() - self._last_media < 0.1

    async def _run_step(self, step: Step) -> None:
        mark = time.monotonic()
        quiet_after = None
        if step.kind == "turn":
            if not await self._until(self._agent_quiet, self.step_timeout):
                raise TimeoutError("the agent never went quiet")
            quiet_after = self._last_media
            await asyncio.sleep(step.pause_ms / 1000)
        else:
            if not await self._until(lambda: self._agent_talking_since(mark), self.step_timeout):
                raise TimeoutError("the agent never started talking")
            await asyncio.sleep(step.after_ms / 1000)
        await self._until(lambda: not self._queue, 5)
        sent = Sent(step, len(self.trace.sent_at) + len(self._queue), quiet_after)
        self._queue.extend(step.utterance.frames)
        self.trace.steps.append(sent)
        await self._until(lambda: not self._queue, step.utterance.seconds + 5)
        self._spoke_end = time.monotonic()

    async def run(self) -> Trace:
        import websockets

        trace = self.trace
        trace.started = time.monotonic()
        target = await self._webhook()
        if target is None:
            return trace
        ws_url, params = target
        trace.call_id = params.get("call_id")
        sid = "MZ" + uuid.uuid4().hex
        try:
            async with websockets.connect(ws_url, max_size=None, compression=None) as ws:
                await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
                await ws.send(json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": sid, "start": {
                    "streamSid": sid, "accountSid": "AC" + "0" * 32, "callSid": self._call_sid,
                    "tracks": ["inbound"], "customParameters": params,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": RATE, "channels": 1}}}))
                sender = asyncio.create_task(self._sender(ws, sid))
                receiver = asyncio.create_task(self._receiver(ws))
                try:
                    for step in self.steps:
                        await self._run_step(step)
                    # Let the agent answer the last step and finish, then hang up.
                    last = self.trace.steps[-1] if self.trace.steps else None
                    if last is not None:
                        sent_end = last.first_frame + len(last.step.utterance.frames)
                        await self._until(lambda: len(trace.sent_at) >= sent_end, 5)
                        await self._until(self._agent_quiet, self.step_timeout)
                    await asyncio.sleep(self.hangup_after)
                except TimeoutError as exc:
                    trace.error = str(exc)
                finally:
                    self._closed.set()
                    try:
                        await ws.send(json.dumps({"event": "stop", "streamSid": sid,
                                                  "stop": {"accountSid": "AC" + "0" * 32, "callSid": self._call_sid}}))
                    except Exception:  # noqa: BLE001
                        pass
                    await sender
                    receiver.cancel()
        except Exception as exc:  # noqa: BLE001 - a broken call is a result, not a crash
            trace.error = trace.error or f"{type(exc).__name__}: {exc}"
        trace.ended = time.monotonic()
        return trace
