"""The dialler: every outbound call enters the dial queue, and leaves it when every rule allows.

``Dialing.submit`` (``POST /v1/calls``, ``cb call --to``) checks the request as ``Outbound.check``
does (400 before anything is queued), queues it, and judges it at once: allowed now -> dialled in
the same request (201 with the record, as before queueing existed); must wait -> 202 with the
queue entry and its reasons; refused -> a ``refused`` call record with the rule, whose webhook
goes out like any call's. ``submit_many`` (``POST /v1/calls/batch``, ``cb call --to-file``)
queues many and leaves them to the loop. ``Dialing.run`` is the loop: it leases due entries and
judges each again at dial time (do-not-call lists and limits may have changed since enqueue).

Every decision, allowed or refused, is kept on the queue entry and on the call record
(``compliance: [{rule, policy, outcome, detail}]``), which the webhook carries.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from cb.contracts.outbound_call import OutboundCallRequest
from cb.state.types import thaw

from ..calls import hooks
from ..calls.callplan import NotRoutable, plan_call
from ..calls.outbound import BadCall, Outbound
from ..calls.records import CallRecord
from . import zones
from .clock import SystemClock
from .disclosure import for_call
from .dnc_urls import UrlLists
from .queue import DbHistory, DialQueue, Entry
from .rules import Contact, Decision, Policy, judge, verdict

log = logging.getLogger("cb.runner.compliance")

LEASE_SEC = 60.0  # longer than a dial request takes; a dialler that dies is replaced after it
TICK_SEC = 0.5


def read_dnc(source: dict[str, Any]) -> tuple[set[str], str | None]:
    """One do-not-call source as applied: (numbers, error). A ``file`` source carries the numbers read
    from its file when the project was planned (cb.config.dnc_files.applied): the runner never reads
    its own disk for a list, so the list that runs is the one reviewed. URL sources are read from
    their cache (``dnc_urls.UrlLists.read``)."""
    kind = source.get("type")
    if kind == "numbers":
        return set(source.get("numbers") or []), None
    if kind == "file":
        if not source.get("sha256"):  # applied by a cb from before file lists travelled with the policy
            return set(), f"{source.get('path')}: applied without its numbers; plan and apply the policy again"
        return set(source.get("numbers") or []), None
    return set(), f"unknown do-not-call source type {kind!r}"


class Dialing:
    def __init__(self, outbound: Outbound, queue: DialQueue, *, clock: Any = None, registry: Any = None):
        self.outbound, self.queue = outbound, queue
        #: /metrics: every decision judged, by rule and outcome (a waiting call counts at each judgement)
        self.decided = Counter("cb_compliance_decisions_total", "Compliance decisions on outbound calls",
                               ["rule", "outcome"], registry=registry or CollectorRegistry())
        self.clock = clock or SystemClock()
        self.url_lists = UrlLists(queue.conn, queue.mutex, self.clock)
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        hooks.CALL_ENDED.append(self._ended)
        hooks.DO_NOT_CALL.append(self._asked)

    # ------------------------------------------------------------------ policies
    def policies(self, snapshot: Any, agent_address: str) -> list[Policy]:
        rev = snapshot.resources.get(agent_address)
        if rev is None or rev.content is None:
            return []
        out = []
        for name in thaw(rev.content)["spec"].get("compliance") or []:
            pol = snapshot.resources.get(f"compliance_policy.{name}")
            if pol is None or pol.content is None:
                out.append(Policy(name, {"do_not_call": [{}]}, dnc_errors=[f"policy {name} is not applied"]))
                continue
            spec = thaw(pol.content)["spec"]
            numbers: set[str] = set()
            errors = []
            for source in spec.get("do_not_call") or []:
                found, error = (self.url_lists.read(source) if source.get("type") == "url"
                                else read_dnc(source))
                numbers |= found
                if error:
                    errors.append(error)
            out.append(Policy(name, spec, frozenset(numbers), errors))
        return out

    # ------------------------------------------------------------------ enqueue
    def _check(self, req: OutboundCallRequest) -> None:
        self.outbound.check(req, self.outbound.service.store.snapshot())
        if req.tz:
            try:
                zones.check_zone(req.tz)
            except zones.BadZone as exc:
                raise BadCall(f"tz: {exc}") from None

    def _enqueue(self, req: OutboundCallRequest, batch: str | None = None) -> dict[str, Any]:
        return dict(agent=req.agent_address, to=req.to, tz=req.tz, consent=req.consent,
                    request=req.model_dump(mode="json", by_alias=True, exclude_none=True), batch=batch)

    async def submit(self, req: OutboundCallRequest) -> tuple[dict[str, Any], int]:
        self._check(req)
        now = self.clock.now()
        qid = await asyncio.to_thread(self.queue.enqueue, now=now, **self._enqueue(req))
        claimed = await asyncio.to_thread(self.queue.claim, self.owner, LEASE_SEC, now, 1, qid)
        if not claimed:  # the loop took it first: it is in the queue either way
            return {"queued": self.queue.get(qid).to_dict()}, 202
        return await self.process(claimed[0])

    async def submit_many(self, reqs: list[OutboundCallRequest]) -> dict[str, Any]:
        batch = "b_" + uuid.uuid4().hex[:16]
        ids = await asyncio.to_thread(self.queue.enqueue_many, [self._enqueue(r, batch) for r in reqs],
                                      self.clock.now(), batch)
        self._wake.set()
        return {"batch": batch, "queued": ids}

    # ------------------------------------------------------------------ judge and dial
    def _gate(self, entry: Entry, policies: list[Policy]) -> tuple[list[Decision], str, Decision | None]:
        now = self.clock.now()
        with self.queue.gate() as tx:
            history = DbHistory(tx)
            history.now = now
            decisions = judge(Contact(entry.to_number, entry.tz, entry.consent), policies, now, history)
            asked = self.queue.asked_not_to_call(entry.to_number, tx)
            if asked:  # the internal list binds every call, whatever the agent's policies
                decisions.insert(0, Decision("do_not_call", "internal", "refused",
                                             f"asked on call {asked['call_id']}: \"{asked['words']}\""))
            outcome, why = verdict(decisions)
            if outcome == "allowed":
                self.queue.record_attempt(tx, entry.id, entry.to_number, [p.name for p in policies], now)
        return decisions, outcome, why

    async def process(self, entry: Entry) -> tuple[dict[str, Any], int]:
        """Judge a leased entry and act on it: dial, wait, or refuse."""
        req = OutboundCallRequest.model_validate(entry.request)
        snapshot = self.outbound.service.store.snapshot()
        policies = self.policies(snapshot, entry.agent)
        decisions, outcome, why = await asyncio.to_thread(self._gate, entry, policies)
        for d in decisions:
            self.decided.labels(d.rule, d.outcome).inc()
        recorded = [d.to_dict() for d in decisions]
        now = self.clock.now()
        if outcome == "wait":
            await asyncio.to_thread(self.queue.settle, entry.id, self.owner, "waiting", now=now, decisions=recorded,
                                    reason=f"{why.rule} ({why.policy}): {why.detail}", not_before=why.until)
            return {"queued": self.queue.get(entry.id).to_dict()}, 202
        if outcome == "refused":
            record = await self._refuse(req, recorded, f"{why.rule} ({why.policy}): {why.detail}")
            await asyncio.to_thread(self.queue.settle, entry.id, self.owner, "refused", now=now, decisions=recorded,
                                    reason=f"{why.rule} ({why.policy}): {why.detail}",
                                    call_id=record["id"] if record else None)
            return {"error": f"refused by {why.rule} ({why.policy}): {why.detail}", "call": record,
                    "compliance": recorded}, 403
        agent = snapshot.resources.get(entry.agent)
        disclosure = for_call(snapshot, thaw(agent.content)["spec"], entry.to_number) \
            if agent is not None and agent.content is not None else None
        if disclosure is not None:  # what the call will do about recording consent (the plan does it)
            recorded.append(disclosure.decision())
            self.decided.labels("recording_disclosure", recorded[-1]["outcome"]).inc()
        try:
            body, status = await self.outbound.place(req, compliance=recorded)
        except BadCall as exc:
            recorded.append({"rule": "request", "policy": "-", "outcome": "refused", "detail": str(exc)})
            await asyncio.to_thread(self.queue.settle, entry.id, self.owner, "refused", now=now, decisions=recorded,
                                    reason=str(exc))
            raise
        call_id = body.get("id") or (body.get("call") or {}).get("id")
        if call_id:
            await asyncio.to_thread(self.queue.attempt_placed, entry.id, call_id)
        await asyncio.to_thread(self.queue.settle, entry.id, self.owner, "dialled", now=now, decisions=recorded,
                                reason=None, call_id=call_id)
        return body, status

    async def _refuse(self, req: OutboundCallRequest, decisions: list[dict[str, Any]], why: str) -> dict | None:
        """A refused call gets a record (status refused) and its webhook, like any call that ended."""
        service = self.outbound.service
        snapshot = service.store.snapshot()
        try:
            from_number, _, _ = self.outbound.check(req, snapshot)
            plan = plan_call(snapshot, agent=req.agent_address, to_number=req.to, from_number=from_number,
                             direction="outbound", given=req.context)
        except (BadCall, NotRoutable, AttributeError, KeyError) as exc:  # the queue entry still says why
            log.warning("refused call to %s has no record: %s", req.to, exc)
            return None
        plan = dataclasses.replace(plan, webhook_url=req.webhook_url, metadata=req.metadata or None)
        records = service.records
        await asyncio.to_thread(records.create, CallRecord(
            id=plan.call_id, agent=plan.agent, agent_revision=plan.agent_revision, state_serial=plan.state_serial,
            direction="outbound", from_number=from_number, to_number=req.to, status="refused",
            metadata=req.metadata or None, compliance=decisions))
        await asyncio.to_thread(records.finish, plan.call_id, "refused", "compliance", [], why)
        record = await asyncio.to_thread(records.get, plan.call_id)
        log.info("call %s to %s refused: %s", plan.call_id, req.to, why)
        await hooks.call_ended(plan, record, {"tool_records": [], "turns": [], "context": plan.context,
                                              "observers": []})
        return record.to_dict()

    def _asked(self, plan: Any, number: str, words: str) -> None:
        """The do_not_call tool: the person on this call asked never to be called again."""
        self.queue.do_not_call(number, words, call_id=plan.call_id, agent=plan.agent, at=self.clock.now())
        log.info("call %s: %s asked not to be called again (%r)", plan.call_id, number, words)

    def _ended(self, plan: Any, record: Any, extras: dict[str, Any]) -> None:
        self.queue.call_ended(plan.call_id, self.clock.now())

    # ------------------------------------------------------------------ the loop
    async def tick(self) -> int:
        """Lease what is due and process it; the number of entries handled."""
        entries = await asyncio.to_thread(self.queue.claim, self.owner, LEASE_SEC, self.clock.now(), 20)
        for entry in entries:
            try:
                await self.process(entry)
            except BadCall as exc:
                log.warning("queued call %s to %s refused at dial time: %s", entry.id, entry.to_number, exc)
            except Exception:  # noqa: BLE001 - one bad entry must not stop the queue; its lease expires
                log.exception("queued call %s failed", entry.id)
        return len(entries)

    async def run(self) -> None:
        while True:
            try:
                handled = await self.tick()
            except Exception:  # noqa: BLE001 - a database hiccup: try again next tick
                log.exception("dial queue tick failed")
                handled = 0
            if handled:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), TICK_SEC)
            except asyncio.TimeoutError:
                pass

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())
        self.url_lists.start(self.outbound.service.store)

    async def stop(self) -> None:
        await self.url_lists.stop()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        if self._ended in hooks.CALL_ENDED:
            hooks.CALL_ENDED.remove(self._ended)
        if self._asked in hooks.DO_NOT_CALL:
            hooks.DO_NOT_CALL.remove(self._asked)
