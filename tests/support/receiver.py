"""A real local HTTP receiver for webhooks and tools, scripted per request.

Each request takes the next action from ``script`` (the last one repeats): an int is the status
to answer, ``("sleep", seconds, status)`` answers after a delay, ``"stall"`` holds the request
open until the receiver is stopped (to kill a worker mid-delivery). Every request is recorded.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from tests.fakes.loopback import LoopbackServer


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    script: list[Any] = field(default_factory=lambda: [200])
    reply: dict[str, Any] = field(default_factory=lambda: {"ok": True})
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.released = threading.Event()
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with receiver.arrived:
                    index = len(receiver.requests)
                    receiver.requests.append(Received(self.command, self.path, dict(self.headers), body, time.time()))
                    receiver.arrived.notify_all()
                action = receiver.script[min(index, len(receiver.script) - 1)]
                status = action
                if action == "stall":
                    receiver.released.wait(30)
                    return
                if isinstance(action, tuple):
                    _, seconds, status = action
                    if receiver.released.wait(seconds):
                        return
                payload = json.dumps(receiver.reply if status < 400 else {"error": "scripted failure"}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = LoopbackServer(Handler, "webhook-receiver", poll_interval=0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"expected {count} request(s), got {len(self.requests)} in {timeout}s")
            return list(self.requests)

    def stop(self) -> None:
        self.released.set()
        self.server.stop()


@pytest.fixture
def receiver():
    """``receiver(script, reply)`` starts a Receiver on 127.0.0.1; every one is stopped after the test."""
    made: list[Receiver] = []

    def make(script=None, reply=None) -> Receiver:
        r = Receiver(script=script or [200], reply=reply or {"ok": True})
        made.append(r)
        return r

    yield make
    for r in made:
        r.stop()
