"""/v1: JSON over HTTP with bearer-token auth; the CLI's only way into the runner's state.

Errors are ``{"error": message}`` with a status that says what kind: 400 refused input,
401 auth, 404 unknown revision, 409 stale plan, 423 lock held (with ``lock``), 502 provider.
``POST /v1/apply`` streams NDJSON progress events and ends with one ``result`` event.

``router`` is included by ``cb.runner.app``; handlers find the store and engine on
``request.app.state.cb`` (the ``RunnerContext``), and ``ERROR_HANDLERS`` map errors to that shape.
"""

from __future__ import annotations

import json
import queue
import threading
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse

from cb.contracts.change_wire import from_wire, hashes
from cb.providers.base import ProviderError
from cb.state.audit import checkpoint, verify
from cb.state.errors import LockHeld, StateError
from cb.state.types import Cause, SOURCES

from ..auth import require_token

API_VERSION = "v1"


router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)])


def _ctx(request: Request) -> Any:
    return request.app.state.cb


@router.get("/state")
def state(refresh: bool = False, ctx: Any = Depends(_ctx)) -> dict[str, Any]:
    return ctx.engine.state_view(refresh=refresh)


@router.post("/state/contents")
def contents(body: dict[str, Any], ctx: Any = Depends(_ctx)) -> dict[str, Any]:
    return {"contents": ctx.engine.contents(list(body.get("addresses") or []))}


@router.post("/state/observe")
def observe(body: dict[str, Any], ctx: Any = Depends(_ctx)) -> dict[str, Any]:
    """``{"documents": {address: Number document}}`` -> what each number's provider holds now."""
    return {"observed": ctx.engine.observe_documents(dict(body.get("documents") or {}))}


@router.post("/state/credentials")
def credentials(body: dict[str, Any], ctx: Any = Depends(_ctx)) -> dict[str, Any]:
    """``{"agents": {address: spec.pipeline}}`` -> per agent, the environment variable names its
    providers need and which of them this runner lacks (names only, never values)."""
    return {"credentials": ctx.engine.credentials(dict(body.get("agents") or {}))}


@router.get("/lock")
def get_lock(ctx: Any = Depends(_ctx)) -> dict[str, Any]:
    lock = ctx.store.current_lock()
    return {"lock": lock.to_dict() if lock else None}


@router.post("/lock", status_code=201)
def take_lock(body: dict[str, Any], ctx: Any = Depends(_ctx)) -> dict[str, Any]:
    return {"lock": ctx.store.acquire_lock(str(body.get("holder") or "unknown"),
                                       str(body.get("operation") or "unknown")).to_dict()}


@router.delete("/lock/{lock_id}")
def release_lock(lock_id: str, ctx: Any = Depends(_ctx)) -> dict[str, Any]:
    if not ctx.store.release_lock(lock_id):
        held = ctx.store.current_lock()
        raise HTTPException(404, f"no lock with ID {lock_id} is held" +
                            (f"; the current lock is {held.id}, held by {held.holder}" if held else ""))
    return {"released": lock_id}


@router.post("/apply")
def apply(body: dict[str, Any], ctx: Any = Depends(_ctx)) -> StreamingResponse:
    source = body.get("source") or "apply"
    if source not in SOURCES:
        raise StateError(f"unknown source {source!r}")
    raw = list(body.get("changes") or [])
    changes = from_wire(raw)
    kw = dict(source=source, cause=Cause.from_dict(body.get("cause")), applied_by=str(body.get("applied_by") or "unknown"),
              expect_lineage=body.get("lineage"), expect_serial=body.get("serial"), lock_id=body.get("lock_id"),
              expect_fingerprint=body.get("fingerprint"), hashes=hashes(raw))
    steps = ctx.engine.apply_steps(changes, **kw)
    # The binding, hash and `cb validate` checks (cb.apply.integrity) and provider loading happen
    # here, before the 200 goes out: a refused apply is a 4xx and changes nothing.
    first = next(steps)
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
            events.put({"event": "result", "result": {"ok": False, "serial": ctx.store.snapshot().serial, "applied": [],
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
def import_(body: dict[str, Any], ctx: Any = Depends(_ctx)) -> dict[str, Any]:
    """Adopt a resource that already exists (a number the account holds) without changing it."""
    (change,) = from_wire([{**body, "action": "create"}])
    if change.address in ctx.store.snapshot().resources:
        raise StateError(f"{change.address} is already managed; `cb plan` shows how it differs")
    cause = dict(body.get("cause") or {})
    held: dict[str, Any] = {}
    if change.kind == "Number":
        provider = ctx.engine.providers.get(change.content["spec"].get("provider", "local"))
        have = provider.read(change.content["spec"]["number"])
        if have is None and ctx.engine.providers.is_external(provider):
            raise StateError(f"the {provider.name} account does not hold {change.content['spec']['number']}; "
                             "nothing to import")
        if have is not None and ctx.engine.providers.is_external(provider):
            # What the account really holds, on the revision: the next plan diffs against it.
            held = {k: v for k, v in have.to_dict().items() if k in ("sid", "voice_url", "voice_method",
                                                                      "status_callback", "friendly_name")}
            cause["message"] = (cause.get("message") or f"imported from {provider.name}") + " (held: " + ", ".join(
                f"{k}={v}" for k, v in held.items()) + ")"
    snap = ctx.store.commit([change], source="import", cause=Cause.from_dict(cause),
                        applied_by=str(body.get("applied_by") or "unknown"), lock_id=body.get("lock_id"))
    return {"serial": snap.serial, "imported": change.address, "held": held}


@router.get("/history")
def history(address: str | None = None, limit: int | None = None, content: bool = False,
            ctx: Any = Depends(_ctx)) -> dict[str, Any]:
    return {"revisions": [r.to_dict(with_content=content) for r in ctx.store.history(address, limit)]}


@router.get("/revisions/{address}/{ref}")
def revision(address: str, ref: str, ctx: Any = Depends(_ctx)) -> dict[str, Any]:
    return {"revision": ctx.store.revision(address, ref).to_dict()}


@router.get("/watch")
def watch(ctx: Any = Depends(_ctx)) -> dict[str, Any]:
    """Watch mode's last outcome: refused edits' diagnostics, for `cb status`."""
    return {"watch": ctx.watcher.status.to_dict() if ctx.watcher is not None else None}


@router.get("/audit/verify")
def audit(ctx: Any = Depends(_ctx)) -> dict[str, Any]:
    return verify(ctx.store).to_dict()


@router.post("/audit/verify")
def audit_against(body: dict[str, Any], ctx: Any = Depends(_ctx)) -> dict[str, Any]:
    """The audit, and that history up to ``{"against": CHECKPOINT}`` is unchanged."""
    return verify(ctx.store, against=body.get("against")).to_dict()


@router.get("/audit/checkpoint")
def audit_checkpoint(ctx: Any = Depends(_ctx)) -> dict[str, Any]:
    return {"checkpoint": checkpoint(ctx.store)}


async def state_error(request: Request, exc: StateError) -> JSONResponse:
    body: dict[str, Any] = {"error": str(exc)}
    if isinstance(exc, LockHeld):
        body["lock"] = exc.lock.to_dict()
    return JSONResponse(body, status_code=exc.status)


async def provider_error(request: Request, exc: ProviderError) -> JSONResponse:
    return JSONResponse({"error": f"nothing was applied: {exc}"}, status_code=502)


async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code)


#: Passed to ``FastAPI(exception_handlers=...)``: every error is ``{"error": message}``.
ERROR_HANDLERS = {StateError: state_error, ProviderError: provider_error, HTTPException: http_error}
