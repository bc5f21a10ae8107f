"""Tool endpoints for a test: each HTTP tool of the agent answered on 127.0.0.1 with what the
scenario declares (status, JSON body, delay), in order, the last one repeating; a tool the
scenario declares nothing for answers 501, so a test never reaches a real endpoint."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cb.config.scenarios import ToolStub


class ToolStubs:
    def __init__(self, stubs: dict[str, ToolStub]):
        self.stubs = stubs
        self.requests: list[dict[str, Any]] = []  # {tool, method, body}
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="tool-stubs", daemon=True)

    def url(self, tool: str) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/tools/{tool}"

    def __enter__(self) -> "ToolStubs":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def answer(self, tool: str, method: str, body: Any) -> tuple[int, Any, float]:
        with self._lock:
            self.requests.append({"tool": tool, "method": method, "body": body})
            n = self._counts[tool] = self._counts.get(tool, 0) + 1
        stub = self.stubs.get(tool)
        if stub is None:
            return 501, {"error": f"the scenario declares no response for tool {tool!r}"}, 0.0
        r = stub.responses[min(n, len(stub.responses)) - 1]
        return r.status, r.body, r.delay_ms / 1000


def _handler(stubs: ToolStubs) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            tool = parts.path.rsplit("/", 1)[-1]
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else dict(parse_qsl(parts.query))
            except ValueError:
                body = raw.decode(errors="replace")
            status, answer, delay = stubs.answer(tool, self.command, body)
            if delay:
                time.sleep(delay)
            data = json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the tool timed out and hung up
                pass

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler
