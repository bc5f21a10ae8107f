"""The Twilio Media Streams messages the call reads, checked before anything reads them.

Twilio sends ``connected``, ``start``, ``media``, ``dtmf``, ``stop`` and (bidirectional streams)
``mark`` ("Media Streams - WebSocket Messages"): each a JSON text frame, an object with a string
``event``; ``start`` carries ``start.{streamSid, accountSid, callSid, tracks, customParameters,
mediaFormat}``, ``media`` carries ``media.{track, chunk, timestamp, payload}`` (base64 mu-law),
``dtmf`` carries ``dtmf.{track, digit}``. The runner reads ``start`` (callSid, streamSid,
accountSid, customParameters); pipecat's TwilioFrameSerializer reads only ``event``,
``media.payload`` (base64-decoded: a bad one raised inside its receive loop and ended the call
with a logged exception) and ``dtmf.digit``. So exactly those are checked, with their types:

- not JSON, a binary frame, a list or a string, or ``event`` not a string: ``Malformed``;
- ``start``: an object with a string ``callSid`` and ``streamSid`` (in it or beside it), an
  optional string ``accountSid``, and ``customParameters`` an object of strings;
- ``media``: an object whose ``payload`` is base64 of at most 16,384 characters;
- ``dtmf``: an object whose ``digit`` is a string.

Fields nobody reads (``tracks``, ``mediaFormat``, ``chunk``, ``timestamp``, ``sequenceNumber``,
``mark``, ``stop``) are not judged: Twilio may change their types without ending live calls. An
event the runner does not know, well formed, is let through and ignored (pipecat ignores it too)
with one log line per stream: Twilio adds events (``dtmf`` and ``mark`` came later), and closing a
live call on a new one would hang up on every caller; it costs no more than a ``media`` message.
A ``Malformed`` message closes the socket with 1008 (policy violation) and one log line, never a
traceback. ``Guarded`` wraps the call's WebSocket so the pipeline only ever reads valid messages.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

log = logging.getLogger("cb.runner.calls")

POLICY_VIOLATION = 1008
MAX_PAYLOAD_CHARS = 16_384  # base64 of one media chunk; Twilio sends 20 ms (~216 characters)
KNOWN_EVENTS = ("connected", "start", "media", "dtmf", "stop", "mark")
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


class Malformed(ValueError):
    """A message that is not a Media Streams message; the text says what is wrong."""


def _body(message: dict[str, Any], event: str) -> dict[str, Any]:
    body = message.get(event)
    if not isinstance(body, dict):
        raise Malformed(f"{event}: {event!r} is a {type(body).__name__}, not an object")
    return body


def _string(body: dict[str, Any], event: str, name: str, required: bool = True) -> None:
    value = body.get(name)
    if value is None and not required:
        return
    if not isinstance(value, str):
        raise Malformed(f"{event}: {event}.{name} is " + ("missing" if value is None else f"a {type(value).__name__}"))


def check(raw: str | bytes) -> dict[str, Any]:
    """The message as a dict, or Malformed."""
    if isinstance(raw, bytes):
        raise Malformed("binary frame (Media Streams sends JSON text)")
    try:
        message = json.loads(raw)
    except ValueError:
        raise Malformed("not JSON") from None
    if not isinstance(message, dict):
        raise Malformed(f"a JSON {type(message).__name__}, not an object")
    event = message.get("event")
    if not isinstance(event, str):
        raise Malformed(f"event is {'missing' if event is None else 'a ' + type(event).__name__}, not a string")
    if event == "start":
        body = _body(message, event)
        _string(body, event, "callSid")
        _string(body, event, "accountSid", required=False)
        if not isinstance(body.get("streamSid", message.get("streamSid")), str):
            raise Malformed("start: streamSid is missing")
        params = body.get("customParameters") or {}
        if not isinstance(params, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                   for k, v in params.items()):
            raise Malformed("start: customParameters must map names to strings")
    elif event == "media":
        payload = _body(message, event).get("payload")
        if not isinstance(payload, str):
            raise Malformed("media: media.payload is " + ("missing" if payload is None else f"a {type(payload).__name__}"))
        if len(payload) > MAX_PAYLOAD_CHARS:
            raise Malformed(f"media: payload of {len(payload)} characters")
        if not _BASE64.fullmatch(payload):
            raise Malformed("media: payload is not base64")
    elif event == "dtmf":
        _string(_body(message, event), event, "digit")
    return message


async def refuse(websocket: Any, why: str, who: str = "stream") -> None:
    """Close with 1008 and one log line."""
    log.warning("media %s closed (1008): %s", who, why)
    try:
        await websocket.close(code=POLICY_VIOLATION, reason=why[:120])
    except Exception:  # noqa: BLE001 - already closed by the peer
        pass


class Guarded:
    """The call's WebSocket as the pipeline sees it: ``receive`` passes on valid messages only; a
    malformed one closes the socket (1008) and reads as a disconnect, so the call ends cleanly."""

    def __init__(self, websocket: Any, who: str, signal: Any = None):
        self._ws, self._who = websocket, who
        self.violation: str | None = None
        self._unknown: set[str] = set()
        # The admission signal (cb.runner.admission) hears each frame's pacing and backlog.
        self._pacer = signal.pacer() if signal is not None else None
        self._backlog = signal.backlog_of() if signal is not None else None

    async def send_text(self, data: str) -> None:
        await self._ws.send_text(data)
        if self._pacer is not None and data.startswith('{"event": "media"'):
            start = data.find('"payload": "')
            if start >= 0:  # base64 of 8 kHz mu-law: 6000 characters a second
                self._pacer.sent((data.find('"', start + 12) - start - 12) / 6000)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ws, name)

    async def receive(self) -> dict[str, Any]:
        message = await self._ws.receive()
        if message.get("type") != "websocket.receive":
            return message
        raw = message.get("text") if message.get("text") is not None else message.get("bytes")
        try:
            parsed = check(raw)
            event = parsed["event"]
        except Malformed as exc:
            self.violation = str(exc)
            await refuse(self._ws, str(exc), self._who)
            return {"type": "websocket.disconnect", "code": POLICY_VIOLATION}
        if event == "media" and self._backlog is not None:
            try:
                self._backlog.received(float(parsed["media"].get("timestamp")))
            except (TypeError, ValueError):
                pass  # Twilio sends it; a peer that does not is not judged by it
        if event not in KNOWN_EVENTS and event not in self._unknown and len(self._unknown) < 8:
            self._unknown.add(event)
            log.info("media %s: ignoring Media Streams event %r (not one the runner reads)", self._who, event[:40])
        return message
