"""The call path's state inside one runner: pending and active calls, admission, draining.

A call is admitted at its webhook (it pins the snapshot then) and becomes active when its media
stream starts. Admission refuses a call rather than ruining every call: at ``max_calls``, while
the event loop runs late (DESIGN.md: a saturated process degrades silently), or while draining.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from cb.providers import pipeline as providers

from .callplan import CallPlan, NotRoutable, plan_call
from .metrics import CallMetrics
from .records import CallRecord, CallRecords

log = logging.getLogger("cb.runner.calls")

PENDING_TTL_SECS = 60.0  # a webhook answered but no media stream yet: forget it after this
LAG_LIMIT_SECS = 0.25  # default: a loop this late on average (smoothed over ~1 s) refuses new calls


@dataclass
class Pending:
    plan: CallPlan
    via: str  # "twilio" | "local": who signed the webhook
    account_sid: str | None
    expires: float


class Refused(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class CallService:
    def __init__(self, store: Any, records: CallRecords, metrics: CallMetrics, *, default_profile: str,
                 max_calls: int, drain_secs: float, lag_limit_secs: float = LAG_LIMIT_SECS):
        self.store = store
        self.records = records
        self.metrics = metrics
        self.default_profile = default_profile
        self.max_calls = max_calls
        self.drain_secs = drain_secs
        self.lag_limit = lag_limit_secs
        self.pending: dict[str, Pending] = {}
        self.sessions: dict[str, Any] = {}
        self.draining = False
        self.loop_lag = 0.0
        self.warm = False
        self._lag_task: asyncio.Task | None = None

    # ---------------------------------------------------------------- admission
    def readiness(self) -> tuple[bool, str]:
        if not self.warm:
            return False, "starting: loading the default profile's models"
        if self.draining:
            return False, "draining: the runner is shutting down"
        if len(self.sessions) + len(self.pending) >= self.max_calls:
            return False, f"at capacity ({self.max_calls} calls)"
        if self.loop_lag > self.lag_limit:
            return False, f"event loop {self.loop_lag * 1000:.0f} ms late"
        return True, "ok"

    def admit(self, *, to_number: str | None, from_number: str | None, direction: str, via: str,
              provider_call_id: str | None, account_sid: str | None, given: dict[str, Any] | None = None,
              agent: str | None = None) -> CallPlan:
        """Pin the current snapshot for a new call and record it; raise Refused or NotRoutable."""
        self._expire()
        ready, why = self.readiness()
        if not ready:
            self.metrics.refused.labels(why.split(":")[0].split(" (")[0]).inc()
            raise Refused(why)
        snapshot = self.store.snapshot()  # the pin: this call sees this serial until it ends
        plan = plan_call(snapshot, agent=agent, to_number=to_number, from_number=from_number,
                         direction=direction, given=given or {})
        self.records.create(CallRecord(
            id=plan.call_id, agent=plan.agent, agent_revision=plan.agent_revision, state_serial=plan.state_serial,
            number=plan.number, direction=direction, from_number=from_number, to_number=to_number,
            provider_call_id=provider_call_id))
        self.pending[plan.call_id] = Pending(plan, via, account_sid, time.monotonic() + PENDING_TTL_SECS)
        log.info("call %s admitted: %s@%s (serial %d)", plan.call_id, plan.agent, plan.agent_revision[:12],
                 plan.state_serial)
        return plan

    def claim(self, call_id: str) -> Pending | None:
        """The pending call a media stream names; single use."""
        self._expire()
        return self.pending.pop(call_id, None)

    def _expire(self) -> None:
        now = time.monotonic()
        for call_id in [c for c, p in self.pending.items() if p.expires < now]:
            self.pending.pop(call_id)
            self.records.finish(call_id, "failed", "no_media_stream", [], "the media stream never connected")

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        self._lag_task = asyncio.create_task(self._watch_loop_lag(), name="cb-loop-lag")
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
            self.records.finish(call_id, "failed", "runner_shutdown", [], None)
        if self._lag_task:
            self._lag_task.cancel()


def settings_value(settings: Any, name: str, env: str, default: Any) -> Any:
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(env)
    return type(default)(value) if value is not None else default


__all__ = ["CallService", "NotRoutable", "Refused", "Pending", "settings_value"]
