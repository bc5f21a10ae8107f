"""The shape of every Twilio Media Streams message, checked before anything reads it.

Twilio sends ``connected``, ``start``, ``media``, ``mark``, ``dtmf`` and ``stop`` (Media Streams,
"WebSocket messages from Twilio"): a JSON object with a string ``event`` and, for each event but
``connected``, an object under the event's name holding string fields (``start`` also has
``tracks``, a list, ``customParameters``, an object of strings, and ``mediaFormat``, an object).
Anything else — not JSON, a list, a string where an object belongs, an unknown event — is a
``Malformed`` message: the socket is closed with 1008 (policy violation) and one log line, never a
traceback. ``Guarded`` wraps the call's WebSocket so the pipeline only ever reads valid messages.
"""

from __future__ import annotations

import json
import logging
from typing import Any

log = logging.getLogger("cb.runner.calls")

POLICY_VIOLATION = 1008
MAX_PAYLOAD_CHARS = 16_384  # base64 of one media chunk; Twilio sends 20 ms (~216 characters)

#: event -> (field of the event's object, the type it must have, required?)
_FIELDS: dict[str, list[tuple[str, type | tuple[type, ...], bool]]] = {
    "connected": [],
    "start": [("streamSid", str, False), ("accountSid", str, False), ("callSid", str, True),
              ("tracks", list, False), ("customParameters", dict, False), ("mediaFormat", dict, False)],
    "media": [("payload", str, True), ("track", str, False), ("chunk", str, False), ("timestamp", str, False)],
    "mark": [("name", str, True)],
    "dtmf": [("digit", str, True), ("track", str, False)],
    "stop": [("accountSid", str, False), ("callSid", str, False)],
}
_OPTIONAL_BODY = {"stop"}  # a stop without its object still means stop


class Malformed(ValueError):
    """A message that is not a Media Streams message; the text says what is wrong."""


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
    if not isinstance(event, str) or event not in _FIELDS:
        raise Malformed(f"unknown event {str(event)[:40]!r}")
    for top in ("streamSid", "sequenceNumber"):
        if top in message and not isinstance(message[top], str):
            raise Malformed(f"{event}: {top} is a {type(message[top]).__name__}, not a string")
    if event == "connected":
        return message
    body = message.get(event)
    if body is None and event in _OPTIONAL_BODY:
        return message
    if not isinstance(body, dict):
        raise Malformed(f"{event}: {event!r} is a {type(body).__name__}, not an object")
    for name, kind, required in _FIELDS[event]:
        value = body.get(name)
        if value is None:
            if required:
                raise Malformed(f"{event}: {event}.{name} is missing")
            continue
        if not isinstance(value, kind):
            raise Malformed(f"{event}: {event}.{name} is a {type(value).__name__}")
    if event == "start":
        params = body.get("customParameters") or {}
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in params.items()):
            raise Malformed("start: customParameters must map names to strings")
        if not isinstance(body.get("streamSid", message.get("streamSid")), str):
            raise Malformed("start: streamSid is missing")
    if event == "media" and len(body["payload"]) > MAX_PAYLOAD_CHARS:
        raise Malformed(f"media: payload of {len(body['payload'])} characters")
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

    def __init__(self, websocket: Any, who: str):
        self._ws, self._who = websocket, who
        self.violation: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ws, name)

    async def receive(self) -> dict[str, Any]:
        message = await self._ws.receive()
        if message.get("type") != "websocket.receive":
            return message
        raw = message.get("text") if message.get("text") is not None else message.get("bytes")
        try:
            check(raw)
        except Malformed as exc:
            self.violation = str(exc)
            await refuse(self._ws, str(exc), self._who)
            return {"type": "websocket.disconnect", "code": POLICY_VIOLATION}
        return message
