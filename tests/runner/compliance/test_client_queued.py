"""``Client().calls.create()`` returns an id even when the call waits in the dial queue (202): the
queue entry's, with status ``waiting`` and the reason. The runner's 202 body is served as it is
sent (``{"queued": entry}``) by a server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cb.client import Client

ENTRY = {"id": "q_0123456789abcdef0123", "agent": "agent.reminders", "to_number": "+12125550100",
         "status": "waiting", "reason": "calling_window (us): outside mon-sun 08:00-21:00", "not_before": 1768222800.0,
         "call_id": None, "context": {}}


class Runner(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"queued": ENTRY}).encode()
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_queued_call_has_an_id():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Runner)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with Client(f"http://127.0.0.1:{server.server_port}", token="t") as client:
            call = client.calls.create(agent="reminders", to="+12125550100")
    finally:
        server.shutdown()
        server.server_close()
    assert call.id == ENTRY["id"] and call.status == "waiting"
    assert call.reason.startswith("calling_window") and call.queued == ENTRY
