"""The local LLM's server process: llama-cpp-python's own OpenAI-compatible server
(``llama_cpp.server``: chat completions streamed or whole, tools, ``response_format``) on
127.0.0.1, with the ``cb-chatml-tools`` chat format (chat_format.py).

Run as ``python -m cb.plugins.local.llama_server --model FILE.gguf``. It loads the model, runs one
tiny generation (the first one pages in the weights and sets up buffers, which otherwise lands on a
caller's first turn), binds a free port and prints ``{"port": N}`` on stdout, then serves until
its stdin closes: the runner that started it holds the other end, so the server never outlives it.
A process of its own, not a thread of the runner: token sampling runs Python code per token, which
would otherwise compete with the call path's event loop for the interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import threading
from typing import Any


def _exit_when_parent_goes() -> None:
    sys.stdin.buffer.read()  # returns at EOF: the runner closed its end or died
    os._exit(0)


class OpenAIRequests:
    """ASGI middleware for two things OpenAI clients send that llama-cpp-python's server refuses:
    structured output as ``response_format: {type: json_schema, json_schema: {schema}}`` (its
    request model knows only ``json_object``, with an optional ``schema``), rewritten into the
    other; and an assistant message with ``content: null`` beside its ``tool_calls`` (its model
    wants a string or no key: a 500 on the turn after every tool call), the null dropped."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        try:
            request = json.loads(body)
            fmt = request.get("response_format") if isinstance(request, dict) else None
            if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
                schema = (fmt.get("json_schema") or {}).get("schema") or {"type": "object"}
                request["response_format"] = {"type": "json_object", "schema": schema}
            for m in (request.get("messages") or []) if isinstance(request, dict) else []:
                if isinstance(m, dict) and m.get("role") == "assistant" and "content" in m and m["content"] is None:
                    del m["content"]
            body = json.dumps(request).encode()
        except ValueError:
            pass  # not JSON: the server answers that itself
        scope = dict(scope, headers=[(k, v) for k, v in scope.get("headers", []) if k != b"content-length"]
                     + [(b"content-length", str(len(body)).encode())])
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return await receive()  # a disconnect, if the client goes away
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a .gguf file")
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--n-threads", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--alias", default="local", help="the model name clients send")
    args = parser.parse_args(argv)

    import uvicorn
    from llama_cpp.server import app as server_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    from .chat_format import NAME, register

    register()
    app = server_app.create_app(
        server_settings=ServerSettings(host="127.0.0.1", port=0),
        model_settings=[ModelSettings(model=args.model, model_alias=args.alias, chat_format=NAME,
                                      n_ctx=args.n_ctx, n_threads=args.n_threads, verbose=False)])
    llama = server_app._llama_proxy()  # noqa: SLF001 - the loaded model, for the warm-up only
    llama.create_chat_completion(messages=[{"role": "user", "content": "Hi"}], max_tokens=1)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections queue from now on, before uvicorn accepts them
    threading.Thread(target=_exit_when_parent_goes, name="parent-watch", daemon=True).start()
    print(json.dumps({"port": sock.getsockname()[1]}), flush=True)
    uvicorn.Server(uvicorn.Config(OpenAIRequests(app), log_level="warning", access_log=False)).run(sockets=[sock])


if __name__ == "__main__":
    main()
