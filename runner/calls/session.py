"""Runs one call: builds its pipeline from the pinned plan, drives it to the end, records it.

Why a call ends is recorded exactly once (the first reason wins): the caller hung up, the agent
used end_call, the caller was silent for ``phone.silence_timeout_sec``, the call reached
``phone.max_duration_sec``, the runner shut down, or an error.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pipecat.frames.frames import TTSSpeakFrame
from pipecat.workers.runner import WorkerRunner

from cb.providers import pipeline as providers

from . import failure, fallback, hooks
from .callplan import CallPlan
from .metrics import CallMetrics
from .observe import CallObserver
from .pipeline import Stream, build
from .records import CallRecords
from .toolcalls import SessionControl, executor_for

log = logging.getLogger("cb.runner.calls")


class CallLog(logging.LoggerAdapter):
    """Every line names the call and the revision answering it, in the text (any formatter shows
    it) and as ``record.cb`` (for a JSON formatter)."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        e = self.extra
        kwargs.setdefault("extra", {})["cb"] = dict(e)
        return f"[{e['call_id']} {e['agent']}@{e['agent_revision'][:12]}] {msg}", kwargs


class CallSession:
    def __init__(self, plan: CallPlan, records: CallRecords, metrics: CallMetrics, *, default_profile: str):
        self.plan = plan
        self.records = records
        self.metrics = metrics
        self.default_profile = default_profile
        self.end_reason: str | None = None
        self.error: str | None = None
        self.fallbacks: list[str] = []  # "llm: openai failed (...); scripted took over"
        self.worker: Any = None
        self.done = asyncio.Event()
        self.screening: Any = None  # an outbound call's screening.Screening, until someone answers
        self.answered_by: str | None = None
        self.voicemail: str | None = None  # left_message | hung_up | ignored
        self.carrier_verdict: str | None = None  # a carrier's AnsweredBy that came before the media
        self.log = CallLog(log, {"call_id": plan.call_id, "agent": plan.agent,
                                 "agent_revision": plan.agent_revision})

    async def took_over(self, note: str) -> None:
        """A declared fallback provider took over one part of the call (fallback.py): the record,
        and so the webhook, say which and why."""
        self.fallbacks.append(note)
        await asyncio.to_thread(self.records.update, self.plan.call_id, fallbacks=list(self.fallbacks))

    def set_reason(self, reason: str) -> None:
        if self.end_reason is None:
            self.end_reason = reason

    async def end(self, reason: str, *, now: bool = False) -> None:
        """End the call: gracefully (let queued speech play) or, with ``now``, at once."""
        self.set_reason(reason)
        if self.worker is None:
            return
        if now:
            await self.worker.cancel(reason=reason)
        else:
            await self.worker.stop_when_done()

    async def _say(self, text: str) -> None:
        if self.worker is not None:
            await self.worker.queue_frame(TTSSpeakFrame(text))

    def screen(self) -> Any:
        """Screen an outbound call whose agent has a voicemail policy to follow."""
        from .screening import Screening

        if self.plan.direction == "outbound" and self.plan.settings.phone.voicemail != "ignore":
            self.screening = Screening(self._on_verdict)
        return self.screening

    async def _greet(self) -> None:
        if self.plan.greeting:
            await self._say(self.plan.greeting)

    async def _on_verdict(self, answered_by: str, source: str) -> None:
        """The phone policy acts on who answered (screening.py)."""
        screening, policy = self.screening, self.plan.settings.phone.voicemail
        self.answered_by = answered_by
        self.log.info("answered by %s (%s detector)", answered_by, source)
        await asyncio.to_thread(self.records.update, self.plan.call_id, answered_by=answered_by)
        if source != "carrier":  # the carrier's verdict is in the events as its callback came
            await asyncio.to_thread(self.records.event, self.plan.call_id, "runner", "amd",
                                    answered_by=answered_by, detector=source)
        machine = answered_by.startswith("machine") or answered_by == "fax"
        if not machine:
            screening.decided, screening.closed = True, False
            await self._greet()
            return
        if policy == "hangup":
            screening.decided = True
            self.voicemail = "hung_up"
            await asyncio.to_thread(self.records.update, self.plan.call_id, voicemail="hung_up")
            await self.end("voicemail", now=True)
        elif answered_by != "machine_start":  # leave_message: the greeting has ended
            screening.decided = True
            self.voicemail = "left_message"
            await asyncio.to_thread(self.records.update, self.plan.call_id, voicemail="left_message")
            if self.plan.voicemail_message:
                await self._say(self.plan.voicemail_message)
            await self.end("voicemail")

    def _on_turn(self, turn: int, latency: dict[str, float | None]) -> None:
        self.log.info("turn %d latency %s", turn, latency)
        self.metrics.observe_turn(self.plan.agent, latency)
        try:
            self.records.add_turn(self.plan.call_id, turn, latency)
        except Exception:  # noqa: BLE001 - a record write must not drop the call
            self.log.exception("could not record turn latency")

    async def run(self, websocket: Any, stream: Stream) -> None:
        plan = self.plan
        observers = hooks.observers_for(plan)
        observer = CallObserver(on_turn=self._on_turn, listeners=observers)
        tools = executor_for(plan, self._say, SessionControl(self.end, stream.call_sid, bool(stream.auth_token)))
        tools.origin = observer.t0
        status = "failed"
        call = None
        self.metrics.active.inc()
        self.metrics.started.labels(plan.agent).inc()
        screening = self.screening
        gate = None
        if screening is not None:
            from .screening import ScreenGate

            gate = ScreenGate(screening)
        try:
            try:
                call = build(plan, websocket, stream, default_profile=self.default_profile,
                             tools=tools, observer=observer, gate=gate)
            except providers.ProviderUnavailable as exc:
                self.error = str(exc)
                self.set_reason("error")
                self.log.error("cannot build the pipeline: %s", exc)
                try:
                    await failure.apologise(plan, websocket, stream, default_profile=self.default_profile)
                except Exception:  # noqa: BLE001 - the reason is recorded either way
                    self.log.exception("could not apologise to the caller")
                return
            self.worker = call.worker
            failure.watch(call.worker, call.services, self)
            for kind, service in call.services.items():
                fallback.watch(kind, service, self.took_over, context=call.context)
            await asyncio.to_thread(self.records.started, plan.call_id)

            @call.transport.event_handler("on_client_connected")
            async def _connected(_transport: Any, _ws: Any) -> None:
                if screening is None:  # a screened call greets once a person has answered
                    await self._greet()
                elif self.carrier_verdict:
                    await screening.carrier(self.carrier_verdict)

            @call.transport.event_handler("on_client_disconnected")
            async def _disconnected(_transport: Any, _ws: Any) -> None:
                await self.end("caller_hangup", now=True)

            @call.user_aggregator.event_handler("on_user_turn_idle")
            async def _idle(_aggregator: Any) -> None:
                self.log.info("caller silent for %ss: ending", plan.settings.phone.silence_timeout_sec)
                await self.end("silence_timeout")

            max_secs = float(plan.settings.phone.max_duration_sec)
            limit = asyncio.get_running_loop().call_later(
                max_secs, lambda: asyncio.ensure_future(self.end("max_duration", now=True)))
            runner = WorkerRunner(handle_sigint=False, check_dangling_tasks=False)
            await runner.add_workers(call.worker)
            self.log.info("call started: %s -> %s", plan.from_number, plan.to_number)
            try:
                await runner.run()
            finally:
                limit.cancel()
            self.set_reason("caller_hangup")  # the stream ended without anyone deciding to end it
            status = "failed" if self.end_reason == "error" else "completed"
        except Exception as exc:  # noqa: BLE001 - record the failure, never lose the record
            self.error = f"{type(exc).__name__}: {exc}"
            self.set_reason("error")
            self.log.exception("call failed")
        finally:
            self.metrics.active.dec()
            self.metrics.interruptions.labels(plan.agent).inc(observer.interruptions)
            if call is not None:
                self.metrics.observe_call_path(plan.agent, call)
            self.metrics.ended.labels(plan.agent, status, self.end_reason or "error").inc()
            await asyncio.to_thread(self.records.finish, plan.call_id, status, self.end_reason or "error",
                                    observer.transcript, self.error)
            self.log.info("call ended: %s (%s)", status, self.end_reason)
            record = await asyncio.to_thread(self.records.get, plan.call_id)
            await hooks.call_ended(plan, record, {"tools": tools, "tool_records": list(tools.records),
                                                  "turns": observer.turns, "context": plan.context, "observers": observers})
            self.done.set()
