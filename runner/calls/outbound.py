"""Outbound calls: check a request, pin its plan, place it through a dialer, follow its states.

``Outbound.place`` refuses bad input before anything dials (``BadCall``, a 400 naming what to
fix): a ``to`` that is not E.164 (the request model), an agent that is not applied or may not call
out, a ``from`` that is not a declared outbound Number, context that does not match the agent's
declaration, a Twilio call from a runner without a public URL. Then it pins the snapshot (the
plan is made now, so the call keeps that revision whenever it is answered), writes the record
(``queued``) and asks the dialer of the Number's provider (``cb.providers.dialer``) to place it.

The callee's side then reaches the runner three ways, each signed (Twilio's auth token, or the
runner's local token for the local dialer) and naming the call in the signed URL (``?call=ID``):
the voice webhook when it answers (``answer``: the pinned plan becomes the stream's pending call),
status callbacks (``status``: queued → initiated → ringing → in-progress → a final state, with
the SIP response code and duration), and the async AMD callback (``amd``: AnsweredBy, handed to
the call's screening). A call that ends without ever streaming (busy, no-answer, failed, canceled,
or a dialer error such as Twilio's 21215) is finished here and its call-ended hooks run, so its
webhook goes out like any other.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from cb.contracts.outbound_call import OutboundCallRequest
from cb.providers.base import ProviderError
from cb.providers.dialer import FINAL_STATES, Dial, Dialer, DialError, DialerSettings, load_dialer
from cb.state.types import thaw

from . import hooks
from .callplan import CallPlan, NotRoutable, agent_settings, context_problems, plan_call
from .records import CallRecord

log = logging.getLogger("cb.runner.calls")

MACHINE_DETECTION = {"hangup": "Enable", "leave_message": "DetectMessageEnd", "ignore": None}
NEEDS_PUBLIC_URL = {"twilio"}


class BadCall(Exception):
    """A request refused before anything dialled; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class OutboundCall:
    plan: CallPlan
    dialer: Dialer
    dialer_name: str
    provider_call_id: str | None = None
    answered: bool = False
    ended: bool = False
    verdict: str | None = None  # a carrier's AnsweredBy before the media stream started
    created: float = dataclasses.field(default_factory=time.monotonic)


class Outbound:
    def __init__(self, service: Any, settings: Any, local_token: str | None):
        self.service = service
        self.settings = settings
        self.local_token = local_token
        self.calls: dict[str, OutboundCall] = {}
        self._dialers: dict[str, Dialer] = {}

    # ---------------------------------------------------------------- checks
    def dialer(self, name: str) -> Dialer:
        if name not in self._dialers:
            import os

            self._dialers[name] = load_dialer(name, DialerSettings(
                public_base_url=self.settings.public_base_url, local_token=self.local_token, environ=os.environ))
        return self._dialers[name]

    def _numbers(self, snapshot: Any) -> list[tuple[str, dict[str, Any]]]:
        return [(address, thaw(rev.content)) for address, rev in snapshot.resources.items()
                if rev.kind == "Number" and rev.content]

    def check(self, req: OutboundCallRequest, snapshot: Any) -> tuple[str, str, dict[str, Any]]:
        """(from number, dialer name, the agent's spec) or BadCall."""
        address = req.agent_address
        rev = snapshot.resources.get(address)
        if rev is None or rev.content is None or rev.kind != "Agent":
            raise BadCall(f"{address} is not applied on this runner: `cb apply` it first, or check the name", 404)
        spec = thaw(rev.content)["spec"]
        name = address.split(".", 1)[1]
        numbers = self._numbers(snapshot)
        if req.from_ is not None:
            found = next(((a, n) for a, n in numbers if n["spec"]["number"] == req.from_), None)
            if found is None:
                raise BadCall(f"from {req.from_} is not a declared Number: declare it (kind: Number, "
                              "outbound_calls: true) and apply, or leave `from` out to use the agent's own")
            if not found[1]["spec"].get("outbound_calls"):
                raise BadCall(f"{found[0]} ({req.from_}) does not allow outbound calls: set "
                              "`outbound_calls: true` on it and apply")
        else:
            own = [(a, n) for a, n in numbers if n["spec"].get("agent") == name and n["spec"].get("outbound_calls")]
            if not own:
                raise BadCall(f"{address} may not call out: no Number with `outbound_calls: true` answers for it. "
                              "Fix: set outbound_calls: true on its Number, or pass `from` with an outbound Number")
            found = own[0]
        settings = agent_settings(rev.hash or "", spec)
        problems = context_problems(settings, req.context)
        if problems:
            raise BadCall(f"{address}: " + "; ".join(problems))
        dialer_name = req.dialer or found[1]["spec"].get("provider", "local")
        if req.callee is not None and dialer_name != "local":
            raise BadCall("`callee` scripts the simulated callee of the local dialer: pass dialer: local "
                          "(cb call --local), or leave it out")
        if dialer_name in NEEDS_PUBLIC_URL and not self.settings.public_url:
            raise BadCall(f"this runner has no public URL, so {dialer_name} could not reach it when the callee "
                          f"answers ({self.settings.public_base_url} is only this machine). Fix: start it with "
                          "`cb runner --public-url https://…` (or CB_PUBLIC_URL) pointing at this runner")
        return found[1]["spec"]["number"], dialer_name, spec

    # ---------------------------------------------------------------- place
    def _url(self, path: str, call_id: str) -> str:
        return f"{self.settings.public_base_url}{path}?{urlencode({'call': call_id})}"

    async def place(self, req: OutboundCallRequest,
                    compliance: list[dict[str, Any]] | None = None) -> tuple[dict[str, Any], int]:
        service = self.service
        ready, why = service.readiness()
        if not ready:
            raise BadCall(f"the runner cannot take a call now: {why}", 503)
        snapshot = service.store.snapshot()
        from_number, dialer_name, _ = self.check(req, snapshot)
        try:
            dialer = self.dialer(dialer_name)
        except ProviderError as exc:
            raise BadCall(str(exc)) from None
        try:
            plan = plan_call(snapshot, agent=req.agent_address, to_number=req.to, from_number=from_number,
                             direction="outbound", given=req.context)
        except NotRoutable as exc:
            raise BadCall(str(exc)) from None
        phone = plan.settings.phone
        if plan.render_error:  # instructions, greeting or voicemail message (callplan): never dial then apologise
            raise BadCall(f"{plan.agent}: {plan.render_error}")
        plan = dataclasses.replace(plan, webhook_url=req.webhook_url, metadata=req.metadata or None)
        number = next((a for a, n in self._numbers(snapshot) if n["spec"]["number"] == from_number), None)
        plan = dataclasses.replace(plan, number=number)
        service.records.create(CallRecord(
            id=plan.call_id, agent=plan.agent, agent_revision=plan.agent_revision, state_serial=plan.state_serial,
            number=number, direction="outbound", from_number=from_number, to_number=req.to, status="queued",
            metadata=req.metadata or None, compliance=compliance))
        call = OutboundCall(plan, dialer, dialer_name)
        self.calls[plan.call_id] = call
        detection = MACHINE_DETECTION[phone.voicemail] if getattr(dialer, "carrier_amd", False) else None
        dial = Dial(call_id=plan.call_id, to=req.to, from_=from_number,
                    voice_url=self._url("/twilio/voice", plan.call_id),
                    status_url=self._url("/twilio/status", plan.call_id),
                    amd_url=self._url("/twilio/amd", plan.call_id) if detection else None,
                    machine_detection=detection, time_limit_sec=phone.max_duration_sec,
                    callee=req.callee.model_dump() if req.callee else None)
        log.info("call %s: %s calls %s from %s via %s", plan.call_id, plan.agent, req.to, from_number, dialer_name)
        try:
            placed = await asyncio.to_thread(dialer.place, dial)
        except DialError as exc:
            await self.finish(plan.call_id, "failed", "dial_error", error=exc.provider_message,
                              error_code=exc.code)
            record = service.records.get(plan.call_id)
            return {"error": f"{dialer_name} refused the call: {exc}", "call": record.to_dict()}, 502
        call.provider_call_id = placed.provider_call_id
        service.records.update(plan.call_id, provider_call_id=placed.provider_call_id)
        return service.records.get(plan.call_id).to_dict(), 201

    # ---------------------------------------------------------------- the callee's side
    def find(self, call_id: str | None, provider_call_id: str | None) -> OutboundCall | None:
        if call_id and call_id in self.calls:
            return self.calls[call_id]
        if provider_call_id:
            return next((c for c in self.calls.values() if c.provider_call_id == provider_call_id), None)
        return None

    def answer(self, call_id: str, via: str, form: dict[str, str]) -> CallPlan:
        """The callee answered and its side fetched the voice URL: the pinned plan awaits its stream."""
        from .service import Pending, PENDING_TTL_SECS

        call = self.calls.get(call_id)
        if call is None or call.ended:
            raise NotRoutable(f"no outbound call {call_id} is waiting to be answered")
        if call.answered:
            raise NotRoutable(f"outbound call {call_id} was answered already")
        call.answered = True
        if form.get("CallSid") and not call.provider_call_id:
            call.provider_call_id = form["CallSid"]
        self.service.records.advance(call_id, "ringing")
        pending = Pending(call.plan, via, form.get("AccountSid"),
                          time.monotonic() + getattr(self.service, "pending_ttl", PENDING_TTL_SECS))
        pending.provider_call_id = form.get("CallSid")  # the stream must name the same CallSid
        self.service.pending[call_id] = pending
        return call.plan

    def attach(self, session: Any) -> None:
        """A media stream started for ``session``: screen it if it is an outbound call."""
        call = self.calls.get(session.plan.call_id)
        if call is None:
            return
        session.screen()
        session.carrier_verdict = call.verdict

        async def forget() -> None:
            await session.done.wait()
            call.ended = True
            self.calls.pop(session.plan.call_id, None)

        asyncio.ensure_future(forget())

    async def status(self, call: OutboundCall, form: dict[str, str]) -> None:
        """A status callback: move the record along; a final state without media ends the call here."""
        status = (form.get("CallStatus") or "").lower()
        call_id = call.plan.call_id
        records = self.service.records
        extra: dict[str, Any] = {}
        if form.get("SipResponseCode", "").isdigit():
            extra["sip_response_code"] = int(form["SipResponseCode"])
        if form.get("CallDuration", "").isdigit():
            extra["carrier_duration_sec"] = int(form["CallDuration"])
        if form.get("AnsweredBy"):
            extra["answered_by"] = form["AnsweredBy"]
        if form.get("ErrorCode", "").isdigit():
            extra["error_code"] = int(form["ErrorCode"])
        await asyncio.to_thread(records.event, call_id, "carrier", status or "unknown", **extra)
        if extra:
            await asyncio.to_thread(records.update, call_id, **extra)
        if status in ("queued", "initiated", "ringing", "in-progress"):
            await asyncio.to_thread(records.advance, call_id, status)
            return
        if status not in FINAL_STATES:
            return
        session = self.service.sessions.get(call_id)
        if session is not None:  # the callee hung up: the stream closes too; the session records it
            await session.end("caller_hangup", now=True)
            return
        if call_id in self.service.pending or call.answered and status == "completed":
            self.service.pending.pop(call_id, None)
        reason = {"busy": "busy", "no-answer": "no_answer", "canceled": "canceled", "failed": "dial_error",
                  "completed": "caller_hangup"}[status]
        await self.finish(call_id, status, reason, error=form.get("ErrorMessage") or None)

    async def amd(self, call: OutboundCall, answered_by: str) -> None:
        """The carrier's AnsweredBy (async AMD): to the call's screening, or kept until its stream starts."""
        call_id = call.plan.call_id
        await asyncio.to_thread(self.service.records.event, call_id, "carrier", "amd", answered_by=answered_by)
        session = self.service.sessions.get(call_id)
        if session is not None and session.screening is not None:
            await session.screening.carrier(answered_by)
            return
        call.verdict = answered_by
        await asyncio.to_thread(self.service.records.update, call_id, answered_by=answered_by)
        if answered_by.startswith("machine") and call.plan.settings.phone.voicemail == "hangup":
            # no stream to screen yet: the policy acts here
            await asyncio.to_thread(self.service.records.update, call_id, voicemail="hung_up")
            await self.hang_up(call_id, reason="voicemail")

    async def hang_up(self, call_id: str, reason: str = "hangup_requested") -> dict[str, Any]:
        """End the call in any state: the provider hangs up; a call with a stream ends its session."""
        record = self.service.records.get(call_id)
        if record is None:
            raise BadCall(f"no call {call_id}", 404)
        call = self.calls.get(call_id)
        session = self.service.sessions.get(call_id)
        if call is not None and call.provider_call_id:
            try:
                await asyncio.to_thread(call.dialer.hang_up, call.provider_call_id, answered=call.answered)
            except ProviderError as exc:
                log.warning("call %s: could not hang up at %s: %s", call_id, call.dialer_name, exc)
        if session is not None:
            await session.end(reason, now=True)
        elif call is not None and not call.ended:
            self.service.pending.pop(call_id, None)
            await self.finish(call_id, "canceled" if not call.answered else "completed", reason)
        return self.service.records.get(call_id).to_dict()

    async def finish(self, call_id: str, status: str, reason: str, *, error: str | None = None,
                     error_code: int | None = None) -> None:
        """End a call that never streamed: final record, then its call-ended hooks (the webhook)."""
        call = self.calls.pop(call_id, None)
        if call is None or call.ended:
            return
        call.ended = True
        records = self.service.records
        await asyncio.to_thread(records.finish, call_id, status, reason, [], error)
        if error_code is not None:
            await asyncio.to_thread(records.update, call_id, error_code=error_code)
        record = await asyncio.to_thread(records.get, call_id)
        log.info("call %s ended before it streamed: %s (%s)", call_id, status, reason)
        await hooks.call_ended(call.plan, record, {"tool_records": [], "turns": [], "context": call.plan.context,
                                                   "observers": []})
