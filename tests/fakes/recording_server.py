"""A real HTTP server on 127.0.0.1 that records what it is sent: the far end of a webhook.

Why: status callbacks and webhooks must be checked as they arrive on the wire (URL, headers,
form body, signature), not as a function was called. Optionally it checks Twilio's signature the
way a real handler does and answers 403 when it does not validate.
"""

from __future__ import annotations

import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from twilio.request_validator import SIGNATURE_HEADER, RequestValidator

from .loopback import LoopbackServer


@dataclass
class Received:
    method: str
    url: str  # full URL as the sender addressed it
    headers: dict[str, str]
    form: dict[str, str]
    body: bytes
    signature_valid: bool | None  # None when no auth token was given to check with


class RecordingServer:
    """``with RecordingServer(auth_token=...) as server: ... server.url("/status") ... server.received``."""

    def __init__(self, *, auth_token: str | None = None, status: int = 204, response_body: bytes = b"") -> None:
        self.auth_token = auth_token
        self.status = status
        self.response_body = response_body
        self.received: list[Received] = []
        self.arrived = threading.Event()
        self._server: LoopbackServer | None = None

    def __enter__(self) -> "RecordingServer":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                """Quiet; see ``owner.received``."""

            def do_POST(self) -> None:  # noqa: N802 - stdlib naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                form = {k: v[-1] for k, v in urllib.parse.parse_qs(body.decode(), keep_blank_values=True).items()}
                url = f"http://{self.headers.get('Host')}{self.path}"
                valid = None
                if owner.auth_token is not None:
                    signature = self.headers.get(SIGNATURE_HEADER, "")
                    valid = RequestValidator(owner.auth_token).validate(url, form, signature)
                owner.received.append(Received(self.command, url, dict(self.headers), form, body, valid))
                owner.arrived.set()
                status = 403 if valid is False else owner.status
                self.send_response(status)
                payload = owner.response_body if status < 400 else b"invalid signature"
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST

        self._server = LoopbackServer(Handler, "recording-server")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.stop()

    def url(self, path: str = "/") -> str:
        assert self._server is not None, "RecordingServer is not started"
        return f"http://127.0.0.1:{self._server.port}{path}"
