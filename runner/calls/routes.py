"""HTTP and WebSocket routes of the call path, mounted by ``install(app, ctx)``.

- POST /twilio/voice: Twilio's voice webhook. Validates X-Twilio-Signature (403 otherwise),
  routes to the agent named in the signed URL (``?agent=``), else by our number (``To`` inbound,
  ``From`` outbound) to the Number's agent, pins the snapshot and answers TwiML
  ``<Connect><Stream url=wss://…/twilio/stream>`` with the call id as a stream parameter.
- WS /twilio/stream: Twilio Media Streams; runs the call's pipeline.
- GET /metrics (Prometheus), GET /readyz (can this runner take a call now?).
- GET /v1/calls, GET /v1/calls/{id}: call records (bearer token like the rest of /v1).

``install(app, ctx)`` (an ``EXTENSIONS`` entry) makes the ``CallService`` and puts it on
``app.state.calls``; the module-level routers' handlers take it from there.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape, quoteattr

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, WebSocket
from fastapi.responses import JSONResponse, Response

from cb.contracts.voice_webhook_auth import local_token, signed_by

from ..auth import require_token
from .. import routing
from .callplan import NotRoutable
from .claims import CallClaims
from .metrics import CallMetrics
from .records import CallRecords
from .stream_messages import Guarded, Malformed, check, refuse
from .service import PENDING_TTL_SECS, CallService, CannotAnswer, Refused, settings_value

DEFAULT_MAX_CALLS = 500  # a hard cap; the ceiling itself is measured (cb.runner.admission)
DEFAULT_DRAIN_SECS = 30.0
APOLOGY = "Sorry, we cannot take your call right now. Please try again later."


def worker_share(max_calls: int, workers: int) -> int:
    """Each worker's part of the runner's ``CB_MAX_CALLS`` (the CLI runs no more workers than that)."""
    return -(-max_calls // max(1, workers))


def twiml(body: str) -> Response:
    return Response(f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>',
                    media_type="application/xml")


def stream_twiml(stream_url: str, params: dict[str, str]) -> Response:
    parameters = "".join(f"<Parameter name={quoteattr(k)} value={quoteattr(v)}/>" for k, v in params.items())
    return twiml(f"<Connect><Stream url={quoteattr(stream_url)}>{parameters}</Stream></Connect>")


def ws_url(base: str) -> str:
    return "wss://" + base[len("https://"):] if base.startswith("https://") else "ws://" + base.split("://", 1)[1]


def install(app: FastAPI, ctx: Any) -> None:
    settings = ctx.settings
    service = CallService(
        ctx.store, CallRecords.for_store(ctx.store), CallMetrics(),
        default_profile=settings_value(settings, "profile", "CB_PROFILE", "local"),
        max_calls=worker_share(settings_value(settings, "max_calls", "CB_MAX_CALLS", DEFAULT_MAX_CALLS),
                               getattr(settings, "workers", 1)),
        drain_secs=settings_value(settings, "drain_secs", "CB_DRAIN_SECS", DEFAULT_DRAIN_SECS),
        lag_limit_secs=settings_value(settings, "max_loop_lag_ms", "CB_MAX_LOOP_LAG_MS", 250) / 1000,
        pending_ttl_secs=settings_value(settings, "pending_ttl_secs", "CB_PENDING_TTL_SECS", PENDING_TTL_SECS))
    service.claims = CallClaims.for_store(ctx.store)  # any runner on this database may take the stream
    app.state.calls = service
    app.state.max_calls = settings_value(settings, "max_calls", "CB_MAX_CALLS", DEFAULT_MAX_CALLS)  # the runner's
    app.state.local_token = local_token(settings.state_dir)
    ctx.startup.append(service.start)
    ctx.shutdown.append(service.stop)
    ctx.store.subscribe(lambda snap: ctx.log.info("serial %d live: new calls use it", snap.serial))
    app.include_router(router)
    app.include_router(records_router)


router = APIRouter()
#: Call records under /v1, behind the bearer token like the rest of the admin API.
records_router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)])


def _service(request: Request) -> CallService:
    return request.app.state.calls


@router.post("/twilio/voice")
async def voice(request: Request) -> Response:
    ctx, service = request.app.state.cb, request.app.state.calls
    metrics, base = service.metrics, ctx.settings.public_base_url
    # Twilio posts application/x-www-form-urlencoded; parsed here, no multipart library needed.
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    url = base + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    signature = request.headers.get("X-Twilio-Signature", "")
    via = signed_by(url, form, signature, twilio_token=os.environ.get("TWILIO_AUTH_TOKEN"),
                    local=request.app.state.local_token)
    if via is None and url != str(request.url):
        # A local caller (cb call --local) signs the URL it posted to, not the public one Twilio
        # uses; only the local token may sign it, and its stream then stays on that address too.
        if signed_by(str(request.url), form, signature, twilio_token=None, local=request.app.state.local_token):
            via, base = "local", str(request.base_url).rstrip("/")
    if via is None:
        metrics.webhook_rejected.labels("signature").inc()
        ctx.log.warning("refused a voice webhook (403): %s X-Twilio-Signature does not match %s with "
                        "TWILIO_AUTH_TOKEN%s or the local token", "no" if not signature else "its", url,
                        "" if os.environ.get("TWILIO_AUTH_TOKEN") else " (not set)")
        return Response("invalid X-Twilio-Signature", status_code=403)
    if not form.get("CallSid"):
        return Response("CallSid is missing", status_code=400)
    # The voice URL may name the agent and the call's context (?agent=NAME&context=JSON): an
    # outbound call is created with them, a local call posts them. They are covered by the
    # signature (Twilio signs the full URL), so nobody else can set them.
    query = dict(request.query_params)
    try:
        given = json.loads(query["context"]) if query.get("context") else {}
    except ValueError:
        given = None
    if not isinstance(given, dict):
        return Response("?context= must be a JSON object of the agent's context variables", status_code=400)
    if query.get("call"):  # an outbound call this runner placed is answered (outbound.py)
        if request.app.state.outbound.calls.get(query["call"]) is None:  # placed by another worker?
            if routing.forwarded(request):
                return routing.not_mine()
            answer = await routing.forward(request)
            if answer is not None:
                return answer
        try:
            plan = request.app.state.outbound.answer(query["call"], via, form)
            sip_facts(service, plan.call_id, form, via)
        except NotRoutable as exc:
            ctx.log.warning("outbound call not answerable: %s", exc)
            return twiml("<Hangup/>")
        held_by = {"worker": str(ctx.settings.worker)} if routing.others(ctx.settings) else {}
        return stream_twiml(ws_url(base) + "/twilio/stream",  # its stream comes back to this worker (cb.runner.routing)
                            {"call_id": plan.call_id, "agent": plan.agent, "revision": plan.agent_revision, **held_by})
    agent = "agent." + query["agent"] if query.get("agent") else None
    try:
        # Off the event loop: rendering the agent's templates is bounded, but not free.
        plan = await asyncio.to_thread(
            service.admit, agent=agent, to_number=form.get("To"), from_number=form.get("From"),
            direction=form.get("Direction", "inbound").split("-")[0], via=via,
            provider_call_id=form.get("CallSid"), account_sid=form.get("AccountSid"), given=given)
    except CannotAnswer:
        return twiml(f"<Say>{APOLOGY}</Say><Hangup/>")
    except Refused as exc:
        ctx.log.warning("call to %s refused: %s", form.get("To"), exc.reason)
        return twiml('<Reject reason="busy"/>')
    except NotRoutable as exc:
        metrics.refused.labels("not_routable").inc()
        ctx.log.warning("call to %s not routable: %s", form.get("To"), exc)
        return twiml("<Say>This number is not in service.</Say><Hangup/>")
    if form.get("StirVerstat"):  # Twilio's STIR/SHAKEN verification of an inbound caller ID
        service.records.update(plan.call_id, stir_verstat=form["StirVerstat"])
    refused = await _inbound_compliance(service, plan, form)
    if refused is not None:
        return twiml(f"<Say>{escape(refused)}</Say><Hangup/>")
    sip_facts(service, plan.call_id, form, via)
    return stream_twiml(ws_url(base) + "/twilio/stream",
                        {"call_id": plan.call_id, "agent": plan.agent, "revision": plan.agent_revision})


def sip_facts(service: Any, call_id: str, form: Any, via: str) -> None:
    """The SIP gateway (plugins/sip, signing with the local token) adds the Call-ID, the far end and the
    codec to the voice webhook; Twilio never sends these fields, and nobody else can sign them."""
    if via == "local" and form.get("SipCallId"):
        answered = {"sip_response_code": 200} if form.get("Direction", "inbound") == "inbound" else {}
        service.records.update(call_id, sip_call_id=form["SipCallId"][:200], remote_party=form.get("SipRemote", "")[:200],
                               codec=form.get("SipCodec", "")[:8] or None, **answered)


async def _inbound_compliance(service: CallService, plan: Any, form: dict[str, str]) -> str | None:
    """The inbound call's decisions onto its record (runner/compliance/inbound.py); the message to
    say when the attestation minimum refuses it, the call then ended as ``refused``."""
    from ..compliance.inbound import judge

    decisions, message = judge(service.store.snapshot(), plan.agent, form.get("From"), form.get("StirVerstat"))
    if decisions:
        service.records.update(plan.call_id, compliance=decisions)
    if message is None:
        return None
    service.claim(plan.call_id, form.get("CallSid"))  # no stream will come: free its place now
    why = next(d["detail"] for d in decisions if d["outcome"] == "refused")
    service.records.finish(plan.call_id, "refused", "compliance", [], f"attestation: {why}")
    from . import hooks
    await hooks.call_ended(plan, service.records.get(plan.call_id), {"tool_records": [], "turns": [],
                                                                     "context": plan.context, "observers": []})
    return message


@router.websocket("/twilio/stream")
async def stream(websocket: WebSocket) -> None:
    from .pipeline import Stream
    from .session import CallSession

    service = websocket.app.state.calls
    await websocket.accept()
    try:
        start = await _read_start(websocket)
    except Malformed as exc:
        await refuse(websocket, str(exc))
        return
    if start is None:
        await refuse(websocket, "no start message")
        return
    call_id = (start.get("customParameters") or {}).get("call_id", "")
    try:
        # In a thread: the claim is a statement on the fleet's database, and may plan the call again.
        pending = await asyncio.to_thread(service.claim, call_id, start.get("callSid"), session_for=lambda p: CallSession(
            p.plan, service.records, service.metrics, default_profile=service.default_profile))
    except Refused as exc:
        port = routing.port_of(websocket.app.state.cb.settings, (start.get("customParameters") or {}).get("worker"))
        if port is not None and not routing.forwarded(websocket):  # an outbound call another worker holds
            await routing.relay(websocket, start, port)
            return
        await refuse(websocket, exc.reason, call_id or "stream")
        return
    session = service.sessions[pending.plan.call_id]
    websocket.app.state.outbound.attach(session)  # screens an outbound call (outbound.py)
    real = pending.via == "twilio"
    try:
        await session.run(Guarded(websocket, pending.plan.call_id, service.signal), Stream(
            stream_sid=start.get("streamSid", ""), call_sid=start.get("callSid"),
            account_sid=start.get("accountSid") or pending.account_sid,
            auth_token=os.environ.get("TWILIO_AUTH_TOKEN") if real else None,
            api_base_url=os.environ.get("TWILIO_API_BASE_URL") or None))
    finally:
        service.sessions.pop(pending.plan.call_id, None)


def _metrics_auth(request: Request) -> None:
    """/metrics is behind the token unless the operator chose ``--metrics-public``."""
    if not getattr(request.app.state.cb.settings, "metrics_public", False):
        require_token(request)


@router.get("/metrics", dependencies=[Depends(_metrics_auth)])
async def prometheus(request: Request, service: CallService = Depends(_service)) -> Response:
    metrics = service.metrics  # with workers, all of them merged (cb.runner.routing)
    return Response(await routing.runner_metrics(request, metrics.render()), media_type=metrics.content_type)


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """200 when this runner can take a call now. Agents whose providers need environment variables
    the runner lacks are named under ``agents_missing_env`` (names only); they alone do not make
    the runner unready while another live agent can take a call, but a runner none of whose live
    agents can is not ready."""
    service = request.app.state.calls
    ready, why = service.readiness()
    ready = ready and bool(getattr(request.app.state.cb, "ready", True))
    if ready and routing.starting():  # the first start of a runner with workers: ready once all are
        ready, why = False, routing.starting()
    engine = getattr(request.app.state.cb, "engine", None)
    live = engine.live_credentials() if engine is not None else {}
    missing = {address: found["missing"] for address, found in sorted(live.items()) if found["missing"]}
    if ready and live and len(missing) == len(live):
        ready, why = False, ("no agent can take a call: each lacks environment variables on the runner ("
                             + "; ".join(f"{a}: {', '.join(m)}" for a, m in missing.items()) + ")")
    dialing = getattr(request.app.state, "dialing", None)  # do-not-call URLs whose last fetch failed (names only)
    stale = dialing.url_lists.stale(service.store.snapshot()) if dialing is not None else {}
    return JSONResponse({"ready": ready, "reason": why if ready or why != "ok" else "starting",
                         "calls": len(service.sessions), "max_calls": request.app.state.max_calls,
                         "loop_lag_ms": round(service.loop_lag * 1000, 1), "agents_missing_env": missing,
                         "admission": service.signal.reading(len(service.sessions)).to_dict(service.signal.limits),
                         "do_not_call_stale": stale},
                        status_code=200 if ready else 503)


@records_router.get("/calls")
def list_calls(limit: int = 50, agent: str | None = None,
               service: CallService = Depends(_service)) -> dict[str, Any]:
    return {"calls": [r.to_dict() for r in service.records.list(limit, agent)]}


@records_router.get("/calls/{call_id}")
def get_call(call_id: str, service: CallService = Depends(_service)) -> dict[str, Any]:
    record = service.records.get(call_id)
    if record is None:
        raise HTTPException(404, f"no call {call_id}")
    return record.to_dict()


async def _read_start(websocket: WebSocket) -> dict[str, Any] | None:
    """Skip ``connected``; return the ``start`` event's body (streamSid, callSid, customParameters).
    A message that is not a Media Streams message raises ``Malformed``."""
    for _ in range(10):
        try:
            raw = await websocket.receive_text()
        except Exception:  # noqa: BLE001 - the peer went away, or sent bytes
            return None
        message = check(raw)
        if message["event"] == "start":
            body = dict(message["start"])
            body.setdefault("streamSid", message.get("streamSid"))
            return body
    return None
