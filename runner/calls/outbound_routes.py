"""Routes of outbound calls, mounted by ``install(app, ctx)`` (an ``EXTENSIONS`` entry after the call path).

- POST /v1/calls (bearer token): place a call (``cb.contracts.outbound_call.OutboundCallRequest``);
  201 with the record (``queued``), 400/404 naming what to fix, 502 when the provider refused it
  (the record is ``failed`` with the provider's code, and its webhook goes out).
- DELETE /v1/calls/{id} (bearer token): hang up, in any state.
- POST /twilio/status: the call's status callbacks (every state change, SIP code, duration).
- POST /twilio/amd: the async answering-machine-detection callback (AnsweredBy).

Both callbacks are checked like ``/twilio/voice``: Twilio's ``X-Twilio-Signature`` over the full
URL and form, with TWILIO_AUTH_TOKEN or the runner's local token (the local dialer's callee);
anything else is 403. They name the call in the signed URL (``?call=ID``), else by ``CallSid``.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from cb.contracts.outbound_call import OutboundCallRequest
from cb.contracts.voice_webhook_auth import signed_by

from ..auth import require_token
from .. import routing
from .outbound import BadCall, Outbound

admin = APIRouter(prefix="/v1", dependencies=[Depends(require_token)])
callbacks = APIRouter()


def install(app: FastAPI, ctx: Any) -> None:
    from ..compliance.dialing import Dialing
    from ..compliance.queue import DialQueue

    app.state.outbound = Outbound(app.state.calls, ctx.settings, app.state.local_token)
    # Every outbound call goes through the dial queue and its compliance rules (runner/compliance).
    dialing = Dialing(app.state.outbound, DialQueue.for_store(ctx.store),
                      registry=app.state.calls.metrics.registry)
    app.state.dialing = dialing
    if getattr(ctx.settings, "worker", 0) == 0:  # one dialer per runner: worker 0's (cb.runner.routing)
        ctx.startup.append(dialing.start)
    ctx.shutdown.append(dialing.stop)
    app.include_router(admin)
    app.include_router(callbacks)


def _problems(exc: ValidationError) -> str:
    out = []
    for e in exc.errors():
        where = ".".join(str(p) for p in e["loc"]) or "body"
        message = e["msg"]
        if where == "to" and "pattern" in message:
            message = "not an E.164 number: write it as +<country code><number>, e.g. +14155550199"
        out.append(f"{where}: {message}")
    return "; ".join(out)


@admin.post("/calls")
async def create_call(request: Request) -> JSONResponse:
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"error": "the body must be JSON: {agent, to, from?, context?, webhook_url?, metadata?}"},
                            status_code=400)
    try:
        req = OutboundCallRequest.model_validate(body)
    except ValidationError as exc:
        return JSONResponse({"error": _problems(exc)}, status_code=400)
    try:
        result, status = await request.app.state.dialing.submit(req)
    except BadCall as exc:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)
    return JSONResponse(result, status_code=status)


@admin.post("/calls/batch")
async def create_calls(request: Request) -> JSONResponse:
    """Queue many calls: ``{"calls": [request, ...]}``; every one is checked first, none is queued
    when any is bad (the error names its index, which ``cb call --to-file`` maps to a line)."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("calls"), list) or not body["calls"]:
        return JSONResponse({"error": "the body must be JSON: {calls: [{agent, to, context?, tz?, consent?}, ...]}"},
                            status_code=400)
    dialing = request.app.state.dialing
    reqs, problems = [], []
    for i, item in enumerate(body["calls"]):
        try:
            req = OutboundCallRequest.model_validate(item)
            dialing._check(req)
            reqs.append(req)
        except ValidationError as exc:
            problems.append({"index": i, "error": _problems(exc)})
        except BadCall as exc:
            problems.append({"index": i, "error": str(exc)})
    if problems:
        return JSONResponse({"error": f"{len(problems)} of {len(reqs) + len(problems)} calls are bad; none was "
                             "queued", "problems": problems}, status_code=400)
    return JSONResponse(await dialing.submit_many(reqs), status_code=202)


@admin.get("/dial-queue")
async def queued(request: Request, agent: str | None = None, all: bool = False) -> JSONResponse:
    """What waits to be dialled and why (``all``: refused, dialled and canceled entries too)."""
    queue = request.app.state.dialing.queue
    statuses = ("waiting", "dialling", "dialled", "refused", "canceled") if all else ("waiting", "dialling")
    address = agent if not agent or agent.startswith("agent.") else "agent." + agent
    entries = queue.list(statuses, agent=address)
    return JSONResponse({"queue": [e.to_dict() for e in entries], "counts": queue.counts()})


@admin.get("/compliance/decisions")
async def compliance_decisions(request: Request, since: str | None = None, until: str | None = None) -> JSONResponse:
    """Every compliance decision judged in [since, until) (dates or ISO times; runner/compliance/audit.py)."""
    from ..compliance import audit

    try:
        start, end = audit.bound(since, False), audit.bound(until, True)
    except audit.BadRange as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    queue = request.app.state.dialing.queue
    rows = audit.decisions(queue.conn, queue.mutex, start if start is not None else 0.0,
                           end if end is not None else 253402300799.0)  # 9999-12-31T23:59:59
    return JSONResponse({"decisions": rows, "fields": list(audit.FIELDS)})


@admin.delete("/calls/{call_id}")
async def hang_up(call_id: str, request: Request) -> Response:
    service = request.app.state.calls
    if not (call_id in request.app.state.outbound.calls or call_id in service.sessions or call_id in service.pending):
        if routing.forwarded(request):  # another worker of this runner may hold it (cb.runner.routing)
            return routing.not_mine()
        answer = await routing.forward(request)
        if answer is not None:
            return answer
    try:
        return JSONResponse(await request.app.state.outbound.hang_up(call_id))
    except BadCall as exc:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)


async def _signed_form(request: Request) -> dict[str, str] | None:
    base = request.app.state.cb.settings.public_base_url
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    url = base + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    via = signed_by(url, form, request.headers.get("X-Twilio-Signature", ""),
                    twilio_token=os.environ.get("TWILIO_AUTH_TOKEN"), local=request.app.state.local_token)
    if via is None and url != str(request.url):  # the SIP gateway signs the address it posted to, as in voice()
        via = signed_by(str(request.url), form, request.headers.get("X-Twilio-Signature", ""),
                        twilio_token=None, local=request.app.state.local_token)
    if via is None:
        request.app.state.calls.metrics.webhook_rejected.labels("signature").inc()
        return None
    return form


@callbacks.post("/twilio/status")
async def status(request: Request) -> Response:
    form = await _signed_form(request)
    if form is None:
        return Response("invalid X-Twilio-Signature", status_code=403)
    outbound: Outbound = request.app.state.outbound
    call = outbound.find(request.query_params.get("call"), form.get("CallSid"))
    pending_id = request.query_params.get("call") or request.app.state.calls.records.by_provider_id(form.get("CallSid", ""))
    if call is None and pending_id not in request.app.state.calls.pending:  # held by another worker?
        answer = await _elsewhere(request)
        if answer is not None:
            return answer
    if call is not None:
        await outbound.status(call, form)
        return Response(status_code=204)
    # A call that has ended here already (its stream closed first): keep what the carrier adds.
    records = request.app.state.calls.records
    call_id = request.query_params.get("call") or records.by_provider_id(form.get("CallSid", ""))
    if call_id and records.get(call_id) is not None:
        extra: dict[str, Any] = {}
        if form.get("CallDuration", "").isdigit():
            extra["carrier_duration_sec"] = int(form["CallDuration"])
        if form.get("SipResponseCode", "").isdigit():
            extra["sip_response_code"] = int(form["SipResponseCode"])
        records.event(call_id, "carrier", (form.get("CallStatus") or "unknown").lower(), **extra)
        records.update(call_id, **extra)
        await _release_pending(request.app.state.calls, call_id, (form.get("CallStatus") or "").lower())
    return Response(status_code=204)


async def _release_pending(service: Any, call_id: str, status: str) -> None:
    """An inbound call that ended before its stream connected (canceled while ringing) is ended now:
    its place is freed and its record closed, with the post-call hooks, instead of left pending."""
    if status in ("canceled", "busy", "no-answer", "failed", "completed"):
        pending = service.release(call_id, status)
        if pending is not None:
            from .hooks import call_ended
            await call_ended(pending.plan, service.records.get(call_id),
                             {"tool_records": [], "turns": [], "context": pending.plan.context, "observers": []})


async def _elsewhere(request: Request) -> Response | None:
    """A callback for a call this worker does not hold: another worker's answer (cb.runner.routing)."""
    if routing.forwarded(request):
        return routing.not_mine()
    return await routing.forward(request)


@callbacks.post("/twilio/amd")
async def amd(request: Request) -> Response:
    form = await _signed_form(request)
    if form is None:
        return Response("invalid X-Twilio-Signature", status_code=403)
    outbound: Outbound = request.app.state.outbound
    call = outbound.find(request.query_params.get("call"), form.get("CallSid"))
    answered_by = form.get("AnsweredBy", "")
    if call is None:
        answer = await _elsewhere(request)
        if answer is not None:
            return answer
    if call is not None and answered_by:
        await outbound.amd(call, answered_by)
    return Response(status_code=204)
