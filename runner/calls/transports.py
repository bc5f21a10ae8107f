"""Keep the call transports (``cb.providers.transport``: the SIP listener) in step with the live Numbers.

Installed as an ``EXTENSIONS`` entry. At start-up and after every change of the live state, each
installed transport whose provider some Number names is handed that provider's Numbers; a
transport no Number needs any more is closed. A transport that cannot serve what is declared
(an address it cannot bind) logs why, in the operator's words, and keeps serving what it can.
Before an apply commits, each transport is asked whether it could serve the Numbers the change set
leaves (``Engine.before_commit``): one that cannot bind a declared address refuses the apply.
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import FastAPI

from cb.providers.base import ProviderError
from cb.providers.transport import CallTransport, TransportSettings, load_transport, transport_names
from cb.state.errors import StateError


class Transports:
    def __init__(self, ctx: Any, settings: TransportSettings):
        self.ctx, self.settings = ctx, settings
        self.running: dict[str, CallTransport] = {}
        self.errors: dict[str, str] = {}
        self._lock = threading.Lock()

    def numbers(self, snapshot: Any) -> dict[str, list[dict[str, Any]]]:
        names, out = transport_names(), {}
        for rev in snapshot.resources.values():
            if rev.kind == "Number" and rev.content:
                provider = rev.content["spec"].get("provider", "local")
                if provider in names:
                    out.setdefault(provider, []).append(rev.content["spec"])
        return out

    def sync(self, snapshot: Any) -> None:
        with self._lock:
            wanted = self.numbers(snapshot)
            for name in set(self.running) - set(wanted):
                self.running.pop(name).close()
            for name, specs in wanted.items():
                try:
                    if name not in self.running:
                        self.running[name] = load_transport(name, self.settings)
                    self.running[name].sync(specs)
                    self.errors.pop(name, None)
                except ProviderError as exc:
                    self.errors[name] = str(exc)
                    self.ctx.log.error("%s transport: %s", name, exc)

    def check(self, after: dict[str, tuple[str, Any]]) -> None:
        """Refuse (StateError) a change set whose Numbers a transport could not serve, before it commits."""
        names, wanted = transport_names(), {}
        for address, (kind, content) in sorted(after.items()):
            if kind == "Number" and content and content["spec"].get("provider", "local") in names:
                wanted.setdefault(content["spec"].get("provider", "local"), []).append((address, content["spec"]))
        problems = []
        with self._lock:
            for name, numbers in sorted(wanted.items()):
                try:
                    if name not in self.running:
                        self.running[name] = load_transport(name, self.settings)
                    check = getattr(self.running[name], "check", None)
                    if check is not None:
                        check([spec for _, spec in numbers])
                except ProviderError as exc:
                    problems.append(f"{', '.join(a for a, _ in numbers)}: {exc}")
        if problems:
            raise StateError("the change set was refused, nothing was applied: this runner cannot serve its "
                             "numbers\n  " + "\n  ".join(problems))

    def close(self) -> None:
        with self._lock:
            for transport in self.running.values():
                transport.close()
            self.running.clear()


def install(app: FastAPI, ctx: Any) -> None:
    settings = ctx.settings
    if getattr(settings, "worker", 0) != 0:  # one SIP listener per runner: worker 0's (cb.runner.workers)
        return
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "", "localhost") else settings.host
    host = f"[{host}]" if ":" in host else host
    transports = Transports(ctx, TransportSettings(runner_url=f"http://{host}:{settings.port}",
                                                   local_token=app.state.local_token))
    app.state.transports = transports
    ctx.startup.append(lambda: transports.sync(ctx.store.snapshot()))
    ctx.shutdown.append(transports.close)
    ctx.store.subscribe(transports.sync)
    if ctx.engine is not None:
        ctx.engine.before_commit.append(transports.check)
