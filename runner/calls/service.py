"""The call path's state inside one runner: pending and active calls, admission, draining.

A call is admitted at its webhook (it pins the snapshot then) and becomes active when its media
stream starts. Admission refuses a call rather than ruining every call: while draining, or when
the worker's admission signal (cb.runner.admission: pacing misses, input backlog, event-loop lag,
the measured CPU ceiling, the ``max_calls`` hard cap) says one more call would degrade the others.

A pending call (admitted, no stream yet) holds capacity only while its stream can still come: a
timer forgets it ``PENDING_TTL_SECS`` after the webhook, so /readyz recovers by itself. A CallSid
is admitted once: a replayed webhook (same CallSid, even correctly signed) is refused.

With ``claims`` (``claims.CallClaims``: the database every runner of the fleet shares) a pending
call is also offered there, so a media stream that reaches another runner takes it and plans it
again against the serial it pinned; and calls whose runner died are ended here as ``runner_lost``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

from cb.providers import pipeline as providers

from ..admission import Limits, Signal

from . import hooks
from .callplan import CallPlan, NotRoutable, plan_call
from .metrics import CallMetrics
from .records import CallRecord, CallRecords

log = logging.getLogger("cb.runner.calls")

PENDING_TTL_SECS = 60.0  # a webhook answered but no media stream yet: forget it after this
SEEN_CALL_SIDS = 100_000  # CallSids remembered against replays (oldest forgotten first)
LAG_LIMIT_SECS = 0.25  # default: a loop this late on average (smoothed over ~0.5 s) refuses new calls


@dataclass
class Pending:
    plan: CallPlan
    via: str  # "twilio" | "local": who signed the webhook
    account_sid: str | None
    expires: float
    provider_call_id: str | None = None  # the signed webhook's CallSid: the stream must name the same


class CannotAnswer(Exception):
    """The call was admitted but cannot be answered (a template failed to render): the caller is
    told sorry, the record says why."""

    def __init__(self, plan: CallPlan):
        super().__init__(plan.render_error)
        self.plan = plan


class Refused(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class CallService:
    def __init__(self, store: Any, records: CallRecords, metrics: CallMetrics, *, default_profile: str,
                 max_calls: int, drain_secs: float, lag_limit_secs: float = LAG_LIMIT_SECS,
                 pending_ttl_secs: float = PENDING_TTL_SECS):
        self.store = store
        self.records = records
        self.metrics = metrics
        self.default_profile = default_profile
        self.max_calls = max_calls
        self.drain_secs = drain_secs
        self.lag_limit = lag_limit_secs
        self.signal = Signal(Limits.from_env(max_calls, loop_lag_ms=lag_limit_secs * 1000))
        self.refusing: str | None = None  # the admission reason last logged, to log each change once
        self.pending_ttl = pending_ttl_secs
        self.pending: dict[str, Pending] = {}
        self.sessions: dict[str, Any] = {}
        self.draining = False
        self.loop_lag = 0.0
        self.warm = False
        self._lag_task: asyncio.Task | None = None
        self.seen: OrderedDict[str, None] = OrderedDict()  # CallSids admitted, against replays
        self._loop: asyncio.AbstractEventLoop | None = None  # set by start(); admit may run in a thread
        self._admitting = threading.Lock()
        self._reserved = 0  # admits past the capacity check whose call is not pending yet
        self.claims: Any = None  # claims.CallClaims: pending calls shared with the fleet's other runners
        self._fleet_task: asyncio.Task | None = None

    # ---------------------------------------------------------------- admission
    def readiness(self) -> tuple[bool, str]:
        if not self.warm:
            return False, "starting: loading the default profile's models"
        if self.draining:
            return False, "draining: the runner is shutting down"
        decision = self.signal.decide(len(self.sessions) + len(self.pending) + self._reserved)
        if (None if decision.admit else decision.reason) != self.refusing:
            self.refusing = None if decision.admit else decision.reason
            if decision.admit:
                log.info("admission: taking new calls again")
            else:
                log.warning("admission: refusing new calls (%s): %s", decision.reason, decision.detail)
        return decision.admit, decision.detail if not decision.admit else "ok"

    def refusal_label(self, why: str) -> str:
        """The metric's reason for a refusal ``readiness`` gave."""
        if why.startswith(("starting", "draining")):
            return why.split(":")[0]
        return self.refusing or "overloaded"

    def admit(self, *, to_number: str | None, from_number: str | None, direction: str, via: str,
              provider_call_id: str | None, account_sid: str | None, given: dict[str, Any] | None = None,
              agent: str | None = None) -> CallPlan:
        """Pin the current snapshot for a new call and record it; raise Refused or NotRoutable."""
        self._expire()
        with self._admitting:  # admit runs in worker threads: check and take capacity and the CallSid at once
            if provider_call_id and provider_call_id in self.seen:
                self.metrics.refused.labels("replay").inc()
                raise Refused(f"CallSid {provider_call_id} was already admitted (replayed webhook)")
            ready, why = self.readiness()
            if not ready:
                self.metrics.refused.labels(self.refusal_label(why)).inc()
                raise Refused(why)
            if provider_call_id:
                self.seen[provider_call_id] = None
                while len(self.seen) > SEEN_CALL_SIDS:
                    self.seen.popitem(last=False)
            self._reserved += 1  # the capacity is taken now, under the lock; pending takes it over
        try:
            plan = self._plan(agent, to_number, from_number, direction, via, provider_call_id, account_sid, given)
        finally:
            with self._admitting:
                self._reserved -= 1
        if self._loop is not None:  # on time, not on the next admit: /readyz recovers with no traffic
            self._loop.call_soon_threadsafe(self._loop.call_later, self.pending_ttl + 0.05, self._expire)
        log.info("call %s admitted: %s@%s (serial %d)", plan.call_id, plan.agent, plan.agent_revision[:12],
                 plan.state_serial)
        return plan

    def _plan(self, agent: str | None, to_number: str | None, from_number: str | None, direction: str, via: str,
              provider_call_id: str | None, account_sid: str | None, given: dict[str, Any] | None) -> CallPlan:
        """Admit's slow half, outside the lock (pin, render, record); ends with the call pending."""
        snapshot = self.store.snapshot()  # the pin: this call sees this serial until it ends
        plan = plan_call(snapshot, agent=agent, to_number=to_number, from_number=from_number,
                         direction=direction, given=given or {})
        self.records.create(CallRecord(
            id=plan.call_id, agent=plan.agent, agent_revision=plan.agent_revision, state_serial=plan.state_serial,
            number=plan.number, direction=direction, from_number=from_number, to_number=to_number,
            provider_call_id=provider_call_id))
        if plan.render_error:
            log.error("call %s cannot be answered: %s", plan.call_id, plan.render_error)
            self.records.finish(plan.call_id, "failed", "error", [], plan.render_error)
            self.metrics.refused.labels("template").inc()
            raise CannotAnswer(plan)
        if self.claims is not None:  # any runner's media stream may take it from here on
            self.claims.offer(plan.call_id, provider_call_id, {
                "agent": agent, "to_number": to_number, "from_number": from_number, "direction": direction,
                "given": given or {}, "via": via, "account_sid": account_sid, "serial": snapshot.serial},
                self.pending_ttl)
        with self._admitting:  # pending before the reservation ends: never a moment uncounted
            self.pending[plan.call_id] = Pending(plan, via, account_sid, time.monotonic() + self.pending_ttl,
                                                 provider_call_id)
        return plan

    def _replan(self, call_id: str, inputs: dict[str, Any]) -> Pending:
        """A call another runner admitted, planned again here as it was there: same serial, same
        inputs, same call id, so it keeps the revision it was admitted with."""
        plan = plan_call(self.store.snapshot_at(int(inputs["serial"])), agent=inputs.get("agent"),
                         to_number=inputs.get("to_number"), from_number=inputs.get("from_number"),
                         direction=inputs.get("direction") or "inbound", given=inputs.get("given") or {},
                         call_id=call_id)
        return Pending(plan, inputs.get("via") or "local", inputs.get("account_sid"),
                       time.monotonic() + self.pending_ttl, None)

    def claim(self, call_id: str, call_sid: str | None = None,
              session_for: Callable[[Pending], Any] | None = None) -> Pending:
        """The pending call a media stream names, single use; Refused when there is none, or when
        the stream's callSid is not the CallSid of the signed webhook that admitted the call.
        ``session_for`` makes the call's session, which takes the pending call's place in one step
        (an admit in a worker thread never sees the call in neither)."""
        self._expire()
        taken = self.claims.claim(call_id, call_sid) if self.claims is not None else None
        with self._admitting:
            pending = self.pending.get(call_id)
            if taken is None and pending is None:  # never offered to the fleet, nor pending here
                raise Refused("unknown or expired call")
            if taken == "mismatch" or (taken is None and (call_sid or None) != (pending.provider_call_id or None)):
                self.metrics.refused.labels("stream_mismatch").inc()
                raise Refused(f"the stream's callSid {str(call_sid)[:40]!r} is not the CallSid of the webhook "
                              f"that admitted {call_id}")
            if isinstance(taken, str):
                raise Refused(taken)
        if pending is None:  # admitted by another runner of the fleet: plan it here (outside the lock)
            pending = self._replan(call_id, taken)
            log.info("call %s taken over from the runner that admitted it (serial %d)", call_id,
                     pending.plan.state_serial)
        with self._admitting:
            self.pending.pop(call_id, None)
            if session_for is not None:
                self.sessions[call_id] = session_for(pending)
        return pending

    def release(self, call_id: str, status: str) -> Pending | None:
        """A pending call whose far end gave up before its stream came (the caller's CANCEL while the
        webhook was in flight): free its place and end its record with the carrier's final status now,
        not when the pending timer would. None when the call is not pending (streaming or gone)."""
        with self._admitting:
            pending = self.pending.pop(call_id, None)
        if pending is not None and self.claims is not None and not self.claims.withdraw(call_id):
            return None  # its stream reached another runner a moment ago: that runner ends it
        if pending is not None:
            log.info("call %s %s before its media stream connected", call_id, status)
            self.records.finish(call_id, status, status.replace("-", "_"), [], None)
        return pending

    def _expire(self) -> None:
        now = time.monotonic()
        for call_id in [c for c, p in list(self.pending.items()) if p.expires < now]:
            with self._admitting:
                if self.pending.pop(call_id, None) is None:
                    continue
            if self.claims is not None and not self.claims.withdraw(call_id):
                continue  # another runner's stream took it
            log.warning("call %s expired: its media stream never connected", call_id)
            self.records.finish(call_id, "failed", "no_media_stream", [], "the media stream never connected")

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._lag_task = asyncio.create_task(self._watch_loop_lag(), name="cb-loop-lag")
        if self.claims is not None:
            await asyncio.to_thread(self.claims.start)
            self._fleet_task = asyncio.create_task(self._watch_fleet(), name="cb-fleet")
        asyncio.create_task(self._warm_up(), name="cb-warm-up")

    async def _warm_up(self) -> None:
        """Load the default profile's models before the first call, off the event loop."""
        try:
            for problem in await asyncio.to_thread(providers.warm_up, self.default_profile):
                log.warning("profile %s: %s", self.default_profile, problem)
        except Exception:  # noqa: BLE001 - a call will report the same problem with its agent
            log.exception("could not preload the %s profile", self.default_profile)
        self.warm = True

    async def _watch_loop_lag(self, period: float = 0.1) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(period)
            late = max(0.0, loop.time() - before - period)
            self.loop_lag = 0.8 * self.loop_lag + 0.2 * late  # one slow tick is not overload
            self.metrics.loop_lag.set(self.loop_lag)
            self.signal.tick(len(self.sessions), self.loop_lag)
            self.metrics.observe_admission(self.signal.reading(len(self.sessions)), self.signal.limits)

    async def _watch_fleet(self, period: float = 1.0) -> None:
        """Free the places of pending calls another runner's stream took; end lost runners' calls."""
        from .claims import HEARTBEAT_SECS

        ticks = 0
        while True:
            await asyncio.sleep(period or HEARTBEAT_SECS)
            try:
                for call_id in await asyncio.to_thread(self.claims.taken_elsewhere, list(self.pending)):
                    with self._admitting:
                        self.pending.pop(call_id, None)
                for call_id, inputs, reason in await asyncio.to_thread(self.claims.orphans):
                    await self._end_orphan(call_id, inputs, reason)
                ticks += 1
                if ticks % 600 == 1:  # every ten minutes or so
                    await asyncio.to_thread(self.claims.prune)
            except Exception:  # noqa: BLE001 - a database blip: look again next time
                log.exception("could not check the fleet's calls")

    async def _end_orphan(self, call_id: str, inputs: dict[str, Any], reason: str) -> None:
        """A call whose runner is gone: end its record as failed and owe its webhook, once in the fleet."""
        if not await asyncio.to_thread(self.claims.end, call_id):
            return
        why = ("the runner that held the call stopped (no heartbeat)" if reason == "runner_lost"
               else "the media stream never connected, and the runner that admitted the call stopped")
        log.warning("call %s ended as failed (%s): %s", call_id, reason, why)
        await asyncio.to_thread(self.records.finish, call_id, "failed", reason, [], why)
        try:
            plan = await asyncio.to_thread(self._replan, call_id, inputs)
        except Exception:  # noqa: BLE001 - the record says failed either way; no plan, no webhook
            log.exception("call %s: cannot plan it again to owe its webhook", call_id)
            return
        record = await asyncio.to_thread(self.records.get, call_id)
        await hooks.call_ended(plan.plan, record, {"tool_records": [], "turns": [], "context": plan.plan.context,
                                                   "observers": []})

    async def stop(self) -> None:
        """Refuse new calls, let calls in progress finish until the deadline, then end them.
        Idempotent: graceful.run drains before uvicorn's shutdown, the app's shutdown hook again."""
        if self.draining and not self.sessions and not self.pending:
            return
        self.draining = True
        active = [s for s in self.sessions.values()]
        if active:
            log.info("draining %d call(s), up to %.0f s", len(active), self.drain_secs)
            done = asyncio.gather(*(s.done.wait() for s in active))
            try:
                await asyncio.wait_for(done, self.drain_secs)
            except asyncio.TimeoutError:
                for session in list(self.sessions.values()):
                    await session.end("runner_shutdown", now=True)
                await asyncio.wait([asyncio.create_task(s.done.wait()) for s in active], timeout=10)
        for call_id in list(self.pending):
            self.pending.pop(call_id)
            if self.claims is None or self.claims.withdraw(call_id):
                self.records.finish(call_id, "failed", "runner_shutdown", [], None)
        if self._lag_task:
            self._lag_task.cancel()
        if self._fleet_task:
            self._fleet_task.cancel()
        if self.claims is not None:
            self.claims.stop()


def settings_value(settings: Any, name: str, env: str, default: Any) -> Any:
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(env)
    return type(default)(value) if value is not None else default


__all__ = ["CallService", "CannotAnswer", "NotRoutable", "Refused", "Pending", "settings_value"]
