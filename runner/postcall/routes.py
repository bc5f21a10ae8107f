"""Runner extension: post-call work, webhook delivery and the call media routes.

Listed in ``cb.runner.app.EXTENSIONS``. ``install`` registers ``AfterCall`` as a call-ended hook
and runs the webhook delivery worker for the runner's lifetime; the module-level ``router``
serves a call's recording and transcript under the admin API's auth
(``GET /v1/calls/{id}/recording.wav`` and ``.../transcript.json``), which is where the webhook's ``recording_url`` and ``transcript_url`` point, and the whole call
as JSON (``GET /v1/calls/{id}/export``) for ``cb calls --runner URL``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse

from ..auth import require_token
from .after_hangup import install as install_aftercall
from .outcomes import call_dir

MEDIA = {"recording.wav": "audio/wav", "transcript.json": "application/json"}


def install(app: FastAPI, ctx: Any) -> None:
    settings = ctx.settings
    profile = getattr(settings, "profile", None) or os.environ.get("CB_PROFILE", "local")
    after, worker = install_aftercall(settings.state_dir, store=ctx.store, default_profile=profile,
                                      public_url=settings.public_base_url)
    stop = asyncio.Event()
    running: list[asyncio.Task] = []

    async def start() -> None:
        running.append(asyncio.create_task(worker.run(stop), name="cb-webhooks"))

    async def shutdown() -> None:
        await after.drain()
        stop.set()
        if running:
            await asyncio.wait(running, timeout=15)
        worker.close()
        from ..calls import hooks

        if after in hooks.CALL_ENDED:
            hooks.CALL_ENDED.remove(after)
        for factory in (after.capture_for, after.call_started):
            if factory in hooks.CALL_OBSERVERS:
                hooks.CALL_OBSERVERS.remove(factory)

    ctx.startup.append(start)
    # Shutdown hooks run in reverse; first in the list means last to run: after the call path
    # has drained its calls, so their post-call work is done before the worker stops.
    ctx.shutdown.insert(0, shutdown)
    app.state.aftercall = after
    calls = getattr(app.state, "calls", None)
    if calls is not None:  # each call's cost on /metrics: cb_call_cost_usd_total{agent,provider}
        after.on_cost = calls.metrics.observe_cost

    app.include_router(router)


router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)])


def _state_dir(request: Request) -> Path:
    return request.app.state.cb.settings.state_dir


@router.get("/calls/{call_id}/export")
def export(call_id: str, state_dir: Path = Depends(_state_dir)) -> dict[str, Any]:
    """Everything about one call, as `cb calls export` prints it (`cb calls --runner URL`)."""
    from .view import show_call

    call = show_call(state_dir, call_id)
    if call is None:
        raise HTTPException(404, f"no call {call_id}")
    return call


@router.get("/calls/{call_id}/{name}")
def media(call_id: str, name: str, state_dir: Path = Depends(_state_dir)) -> FileResponse:
    path = call_dir(state_dir, call_id) / name
    if name not in MEDIA or not call_id.replace("_", "").isalnum() or not path.is_file():
        raise HTTPException(404, f"no {name} for call {call_id}")
    return FileResponse(path, media_type=MEDIA[name])
