"""LLM provider ``scripted``: the scripted server, started inside the runner on first use.

Options: ``script`` (a path to a script file) or ``turns`` (the script inline); without either,
the bundled front-desk demo script. One server per distinct script per process, on 127.0.0.1.
The call still goes through pipecat's OpenAI client over real HTTP and SSE.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from cb.providers import CallAudio, PartSpec, ProviderUnavailable

from .script import ScriptError, load, parse
from .server import ScriptedLLMServer

DEMO_SCRIPT = Path(__file__).with_name("front_desk_demo.yaml")

_servers: dict[str, ScriptedLLMServer] = {}
_lock = threading.Lock()


def server_for(options: dict[str, Any]) -> ScriptedLLMServer:
    try:
        if options.get("turns") is not None:
            key, make = json.dumps(options, sort_keys=True), lambda: parse(dict(options), "pipeline.llm.options")
        else:
            path = Path(options.get("script") or DEMO_SCRIPT)
            key, make = str(path.resolve()), lambda: load(path)
        with _lock:
            if key not in _servers:
                _servers[key] = ScriptedLLMServer(make()).start()
            return _servers[key]
    except ScriptError as exc:
        raise ProviderUnavailable(str(exc)) from None


class ScriptedProvider:
    name = "scripted"
    kind = "llm"

    def create(self, part: PartSpec, audio: CallAudio) -> Any:
        from cb.plugins.openai.provider import openai_llm

        server = server_for(part.options)
        return openai_llm(server.url, "scripted", part.model or "scripted", {})


provider = ScriptedProvider()
