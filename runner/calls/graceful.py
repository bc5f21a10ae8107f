"""Graceful shutdown for the runner: drain calls before uvicorn closes their WebSockets.

uvicorn's own shutdown closes every WebSocket at once (code 1012), cutting calls mid-sentence,
and only then runs the app's shutdown hooks. ``run`` puts the drain first: the first SIGTERM or
SIGINT makes the runner refuse new calls (TwiML ``<Reject reason="busy"/>``, /readyz 503) while
calls in progress finish, up to the drain deadline (CB_DRAIN_SECS, default 30 s) after which they
are ended; then uvicorn shuts down as usual. A second signal stops at once.

Use it in place of ``uvicorn.run``: ``graceful.run(app, host=..., port=..., **uvicorn_options)``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

import uvicorn

log = logging.getLogger("cb.runner")


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, drain: Callable[[], Awaitable[None]],
                 on_ready: Callable[[], None] | None = None):
        super().__init__(config)
        self._drain = drain
        self._on_ready = on_ready
        self._draining = False
        self._loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: Any = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)
        if self.started and self._on_ready is not None:
            self._on_ready()  # only now is the socket bound

    def handle_exit(self, sig: int, frame: Any) -> None:
        if self._draining or self._loop is None:
            return super().handle_exit(sig, frame)  # a second signal (or not started yet): stop now
        self._draining = True
        self._captured_signals.append(sig)  # uvicorn re-raises it after shutdown, as it would have
        log.info("signal %s: refusing new calls, draining calls in progress", sig)
        self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._drain_then_exit()))

    async def _drain_then_exit(self) -> None:
        try:
            await self._drain()
        except Exception:  # noqa: BLE001 - shutting down regardless
            log.exception("draining calls failed")
        finally:
            self.should_exit = True


def drain_calls(app: Any) -> Callable[[], Awaitable[None]]:
    async def drain() -> None:
        service = getattr(app.state, "calls", None)
        if service is not None:
            await service.stop()

    return drain


def run(app: Any, on_ready: Callable[[], None] | None = None, **options: Any) -> None:
    """Serve ``app``; ``on_ready`` is called once the listening socket is bound."""
    DrainingServer(uvicorn.Config(app, **options), drain_calls(app), on_ready).run()
