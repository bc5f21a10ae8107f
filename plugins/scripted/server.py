"""The scripted LLM's HTTP server: OpenAI chat completions, streamed as server-sent events.

Binds 127.0.0.1 on a free port by default and runs in a background thread (``start``/``stop``)
or as a process (``python -m cb.plugins.scripted.server --script FILE``). Every request it
answers is kept in ``requests`` so tests can check what the model was really sent (system prompt,
tools, tool results).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .script import Reply, Script, load, parse


class ScriptedLLMServer:
    def __init__(self, script: Script, host: str = "127.0.0.1", port: int = 0):
        self.script = script
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._matching = 0  # requests the script's `fail` applies to, so far
        self._httpd = ThreadingHTTPServer((host, port), _handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The OpenAI base URL (ends in /v1)."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> "ScriptedLLMServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="scripted-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> "ScriptedLLMServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def record(self, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(body)

    def failing(self, structured: bool) -> Any:
        """The script's failure if it applies to this request (after its ``after`` good answers)."""
        fail = self.script.fail
        if fail is None or not fail.applies(structured):
            return None
        with self._lock:
            self._matching += 1
            return fail if self._matching > fail.after else None


def _chunk(cid: str, model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _tool_calls(reply: Reply) -> list[dict[str, Any]]:
    return [{"index": i, "id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
             "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
            for i, c in enumerate(reply.tool_calls)]


def _words(text: str) -> list[str]:
    """Stream text a word at a time, as real models stream tokens."""
    parts = text.split(" ")
    return [p + (" " if i < len(parts) - 1 else "") for i, p in enumerate(parts) if p or i == 0]


def _handler(server: ScriptedLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet: tests read `requests` instead
            pass

        def _json(self, status: int, payload: Any, close: bool = False) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if close:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            if self.path.rstrip("/") == "/v1/models":
                self._json(200, {"object": "list", "data": [{"id": "scripted", "object": "model"}]})
            else:
                self._json(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:  # noqa: N802
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._json(404, {"error": {"message": f"no route {self.path}"}})
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                messages = body["messages"]
            except (ValueError, KeyError):
                self._json(400, {"error": {"message": "expected a JSON body with `messages`"}})
                return
            server.record(body)
            model = body.get("model") or "scripted"
            mode = (body.get("response_format") or {}).get("type")
            fail = server.failing(mode in ("json_schema", "json_object"))
            if fail is not None and self._fail(fail, model):
                return
            if mode == "json_schema" and not server.script.json_schema:
                self._json(400, {"error": {"message": "This model does not support response format `json_schema`",
                                           "type": "invalid_request_error", "param": "response_format"}})
                return
            if mode in ("json_schema", "json_object"):
                self._whole(Reply(json.dumps(server.script.structured(messages))), model)
                return
            reply = server.script.reply(messages)
            if server.script.first_token_ms:
                time.sleep(server.script.first_token_ms / 1000)
            if body.get("stream"):
                self._stream(reply, model, bool((body.get("stream_options") or {}).get("include_usage")))
            else:
                self._whole(reply, model)

        def _fail(self, fail: Any, model: str) -> bool:
            """Answer as the script's ``fail`` says: an error status, a body that is not JSON, or an
            event stream whose socket closes after the first chunk."""
            if fail.status is not None:
                self._json(fail.status, {"error": {"message": f"scripted failure {fail.status}",
                                                   "type": "server_error", "code": str(fail.status)}}, close=True)
            elif fail.garbage is not None:
                data = fail.garbage.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
            else:
                # Chunked framing, so the client can tell a body cut short from one that ended.
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                first = _chunk(f"chatcmpl-{uuid.uuid4().hex[:12]}", model, {"role": "assistant", "content": "Let"})
                data = f"data: {json.dumps(first)}\n\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
                self.connection.shutdown(2)  # the socket drops mid-answer: no last chunk, no [DONE]
            # Said in the headers too: a client that thought the connection kept alive would send
            # its retry down a socket this server is closing, and report a connection error instead.
            self.close_connection = True
            return True

        def _whole(self, reply: Reply, model: str) -> None:
            message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
            if reply.tool_calls:
                message["tool_calls"] = [{k: v for k, v in c.items() if k != "index"} for c in _tool_calls(reply)]
            self._json(200, {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion",
                             "created": int(time.time()), "model": model,
                             "choices": [{"index": 0, "message": message,
                                          "finish_reason": "tool_calls" if reply.tool_calls else "stop"}],
                             "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}})

        def _stream(self, reply: Reply, model: str, usage: bool) -> None:
            cid = f"chatcmpl-{uuid.uuid4().hex[:12]}"
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            events = [_chunk(cid, model, {"role": "assistant", "content": ""})]
            events += [_chunk(cid, model, {"content": w}) for w in (_words(reply.text) if reply.text else [])]
            if reply.tool_calls:
                events.append(_chunk(cid, model, {"tool_calls": _tool_calls(reply)}))
            events.append(_chunk(cid, model, {}, "tool_calls" if reply.tool_calls else "stop"))
            if usage:
                events.append({"id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
                               "model": model, "choices": [],
                               "usage": {"prompt_tokens": 0, "completion_tokens": len(events), "total_tokens": len(events)}})
            try:
                for event in events:
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client cancelled (barge-in): nothing to finish
            self.close_connection = True

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a scripted LLM over the OpenAI chat-completions API.")
    parser.add_argument("--script", required=True, help="YAML script (see cb/plugins/scripted/script.py)")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = ScriptedLLMServer(load(args.script), port=args.port)
    print(server.url, flush=True)
    try:
        server._httpd.serve_forever()
    except KeyboardInterrupt:
        pass


__all__ = ["ScriptedLLMServer", "parse", "load", "main"]

if __name__ == "__main__":
    main()
