"""How much a request may carry, enforced before any handler sees it.

``BodyLimit`` is ASGI middleware around the whole app. Each route prefix has a ceiling
(``LIMITS``, first match wins); a request past it is answered ``413`` and never buffered:

- a ``Content-Length`` over the ceiling is refused before one byte of the body is read;
- a body without one (chunked) is counted as it streams in, and refused the moment the count
  passes the ceiling; the handler's read fails, so nothing past the ceiling is kept.

Twilio's webhooks are form posts of a few KB; the admin API's apply carries a whole fleet's
changes (a 1,000-agent fleet is a few MB on the wire). WebSocket messages are bounded by the
server (``WS_MAX_BYTES``, passed to uvicorn): a Media Streams message is under 1 KB.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Awaitable, Callable

log = logging.getLogger("cb.runner")

KIB, MIB = 1024, 1024 * 1024

#: (path prefix, most bytes a request body may have); first match wins.
LIMITS: list[tuple[str, int]] = [
    ("/twilio/", 64 * KIB),  # Twilio's form posts are a few KB
    ("/v1/apply", 32 * MIB),  # a fleet's changes
    ("/v1/", 1 * MIB),  # locks, state queries, outbound calls
]
DEFAULT_LIMIT = 64 * KIB  # anything else (health, metrics) has no business sending a body
WS_MAX_BYTES = 64 * KIB  # one WebSocket message; a Media Streams message is under 1 KB


def limit_for(path: str) -> int:
    return next((n for prefix, n in LIMITS if path.startswith(prefix)), DEFAULT_LIMIT)


class _TooLarge(Exception):
    pass


Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class BodyLimit:
    """ASGI middleware: 413 for a body over its route's ceiling, counted as it arrives."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, limit = scope.get("path", ""), limit_for(scope.get("path", ""))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, path, limit, f"Content-Length {declared}")
            return
        seen = 0
        started = False

        async def counted() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge()
            return message

        async def watched(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await _refuse(send, path, limit, f"more than {limit} bytes streamed")


def _content_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, path: str, limit: int, what: str) -> None:
    log.warning("refused a request to %s: %s is over its %d-byte limit (413)", path, what, limit)
    body = json.dumps({"error": f"request body too large: {path} takes at most {limit} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
