"""/v1: JSON over HTTP with bearer-token auth; the CLI's only way into the runner's state.

Errors are ``{"error": message}`` with a status that says what kind: 400 refused input,
401 auth, 404 unknown revision, 409 stale plan, 423 lock held (with ``lock``), 502 provider.
``POST /v1/apply`` streams NDJSON progress events and ends with one ``result`` event.
"""

from __future__ import annotations

import hmac
import json
import queue
import threading
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse

from cb.apply.engine import parse_changes
from cb.providers.base import ProviderError
from cb.state.audit import verify
from cb.state.errors import LockHeld, StateError
from cb.state.types import Cause, SOURCES

API_VERSION = "v1"


def install(app: FastAPI, ctx: Any) -> None:
    store, engine = ctx.store, ctx.engine

    def auth(request: Request) -> None:
        token = ctx.settings.token
        if not token:
            return
        given = request.headers.get("authorization", "")
        if not (given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), token.encode())):
            raise HTTPException(401, "missing or wrong bearer token: set CB_TOKEN (or --token-file) to the runner's token")

    router = APIRouter(prefix="/v1", dependencies=[Depends(auth)])

    @router.get("/state")
    def state(refresh: bool = False) -> dict[str, Any]:
        return engine.state_view(refresh=refresh)

    @router.post("/state/contents")
    def contents(body: dict[str, Any]) -> dict[str, Any]:
        return {"contents": engine.contents(list(body.get("addresses") or []))}

    @router.get("/lock")
    def get_lock() -> dict[str, Any]:
        lock = store.current_lock()
        return {"lock": lock.to_dict() if lock else None}

    @router.post("/lock", status_code=201)
    def take_lock(body: dict[str, Any]) -> dict[str, Any]:
        return {"lock": store.acquire_lock(str(body.get("holder") or "unknown"),
                                           str(body.get("operation") or "unknown")).to_dict()}

    @router.delete("/lock/{lock_id}")
    def release_lock(lock_id: str) -> dict[str, Any]:
        if not store.release_lock(lock_id):
            held = store.current_lock()
            raise HTTPException(404, f"no lock with ID {lock_id} is held" +
                                (f"; the current lock is {held.id}, held by {held.holder}" if held else ""))
        return {"released": lock_id}

    @router.post("/apply")
    def apply(body: dict[str, Any]) -> StreamingResponse:
        source = body.get("source") or "apply"
        if source not in SOURCES:
            raise StateError(f"unknown source {source!r}")
        changes = parse_changes(list(body.get("changes") or []))
        kw = dict(source=source, cause=Cause.from_dict(body.get("cause")), applied_by=str(body.get("applied_by") or "unknown"),
                  expect_lineage=body.get("lineage"), expect_serial=body.get("serial"), lock_id=body.get("lock_id"))
        engine.check(kw["expect_lineage"], kw["expect_serial"], kw["lock_id"])
        steps = engine.apply_steps(changes, **kw)
        first = next(steps)  # provider loading and the checks happen here, before the 200 goes out
        events: queue.Queue = queue.Queue()

        def run() -> None:
            # The apply finishes even if the client goes away: stopping half-way because a CI job
            # was cancelled would leave a partial apply nobody asked for.
            try:
                for event in [first, *steps]:
                    if event["event"] == "result":
                        event = {"event": "result", "result": event["result"].to_dict()}
                    events.put(event)
            except Exception as exc:  # noqa: BLE001 - reported to the client, logged here
                ctx.log.exception("apply failed")
                events.put({"event": "result", "result": {"ok": False, "serial": store.snapshot().serial, "applied": [],
                                                          "not_applied": [], "failed": {"address": "", "error": repr(exc)}}})

        threading.Thread(target=run, name="cb-apply", daemon=True).start()

        def stream():
            while True:
                event = events.get()
                yield json.dumps(event) + "\n"
                if event["event"] == "result":
                    return

        return StreamingResponse(stream(), media_type="application/x-ndjson")

    @router.post("/import")
    def import_(body: dict[str, Any]) -> dict[str, Any]:
        """Adopt a resource that already exists (a number the account holds) without changing it."""
        (change,) = parse_changes([{**body, "action": "create"}])
        if change.address in store.snapshot().resources:
            raise StateError(f"{change.address} is already managed; `cb plan` shows how it differs")
        if change.kind == "Number":
            provider = engine.providers.get(change.content["spec"].get("provider", "local"))
            have = provider.read(change.content["spec"]["number"])
            if have is None and engine.providers.is_external(provider):
                raise StateError(f"the {provider.name} account does not hold {change.content['spec']['number']}; "
                                 "nothing to import")
        snap = store.commit([change], source="import", cause=Cause.from_dict(body.get("cause")),
                            applied_by=str(body.get("applied_by") or "unknown"), lock_id=body.get("lock_id"))
        return {"serial": snap.serial, "imported": change.address}

    @router.get("/history")
    def history(address: str | None = None, limit: int | None = None, content: bool = False) -> dict[str, Any]:
        return {"revisions": [r.to_dict(with_content=content) for r in store.history(address, limit)]}

    @router.get("/revisions/{address}/{ref}")
    def revision(address: str, ref: str) -> dict[str, Any]:
        return {"revision": store.revision(address, ref).to_dict()}

    @router.get("/watch")
    def watch() -> dict[str, Any]:
        """Watch mode's last outcome: refused edits' diagnostics, for `cb status`."""
        return {"watch": ctx.watcher.status.to_dict() if ctx.watcher is not None else None}

    @router.get("/audit/verify")
    def audit() -> dict[str, Any]:
        return verify(store).to_dict()

    app.include_router(router)

    @app.exception_handler(StateError)
    async def state_error(request: Request, exc: StateError) -> JSONResponse:
        body: dict[str, Any] = {"error": str(exc)}
        if isinstance(exc, LockHeld):
            body["lock"] = exc.lock.to_dict()
        return JSONResponse(body, status_code=exc.status)

    @app.exception_handler(ProviderError)
    async def provider_error(request: Request, exc: ProviderError) -> JSONResponse:
        return JSONResponse({"error": f"nothing was applied: {exc}"}, status_code=502)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
