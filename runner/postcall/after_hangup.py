"""After a call ends: owe its webhook, fill its returns, store its outcome, release the webhook.

Registered as a call-ended hook (``cb.runner.calls.hooks.CALL_ENDED``); the hook returns at
once and the work runs as a task, so nothing here delays the call path. Order matters for
durability: the webhook is owed (a *held* outbox row) before the slow part, returns extraction,
starts; a runner that dies during extraction still delivers the webhook, with returns null and
an error that says why. See ``install`` for wiring it into the runner.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Mapping

from cb.config.models import Webhook
from cb.contracts.webhook_payload import ToolCallSummary, WebhookPayload
from cb.pricing import DEFAULT_PRICES, call_cost, from_settings

from . import outcomes
from .returns import ReturnsOutcome, extract_returns
from ..webhooks import Outbox
from ..webhooks.outbox import connect, enqueue

log = logging.getLogger("cb.runner.postcall")

#: How long a held webhook waits for returns extraction before it is sent without them.
HOLD_SEC = 300.0

LLMFactory = Callable[[Any], tuple[Any, str]]  # plan -> (openai.AsyncOpenAI, model)


def _seconds(start: str | None, end: str | None) -> float:
    if not start or not end:
        return 0.0
    return max(0.0, round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 3))


def _tool_records(extras: Mapping[str, Any]) -> list[dict[str, Any]]:
    records = extras.get("tool_records")
    if records is None and extras.get("tools") is not None:
        records = getattr(extras["tools"], "records", None)
    if records is None:  # only what the observer saw: names, not outcomes
        return [{"name": c.get("name"), "arguments": c.get("arguments", {}), "ok": bool(c.get("ok", False)),
                 "status": c.get("status", "unrecorded")} for c in extras.get("tool_calls") or []]
    return [r.to_dict() if hasattr(r, "to_dict") else dict(r) for r in records]


def _webhook(plan: Any) -> Webhook | None:
    """The agent's webhook, typed: from the settings pinned with the call (``CallPlan.settings``),
    else validated from a bare spec (a plan made outside the call path)."""
    settings = getattr(plan, "settings", None)
    override = getattr(plan, "webhook_url", None)  # POST /v1/calls webhook_url: this call's own receiver
    if override:
        own = settings.webhook if settings is not None else None
        return Webhook(url=override, secret=own.secret if own else None,
                       events=own.events if own else ["call.completed", "call.failed"])
    if settings is not None:
        return settings.webhook
    hook = (plan.spec or {}).get("webhook")
    return Webhook.model_validate(hook) if hook else None


def _capture(extras: Mapping[str, Any]) -> dict[str, Any]:
    """The call's recording and transcript: a CallCapture among its observers, closed here."""
    capture = extras.get("capture")
    if capture is None:
        capture = next((o for o in extras.get("observers") or [] if hasattr(o, "recorder")), None)
    if capture is not None and hasattr(capture, "close"):
        capture = capture.close()
    return dict(capture or {})


def _cost(plan: Any, record: Any, extras: Mapping[str, Any], default_profile: str, telephony: str,
          prices: Any) -> dict[str, Any] | None:
    """The call's usage (a CallUsage among its observers) priced by the parts that served it."""
    usage = next((o for o in extras.get("observers") or [] if hasattr(o, "tts_characters")), None)
    if usage is None:
        return None
    from cb.providers.pipeline import resolve

    try:
        resolved = resolve((plan.spec or {}).get("pipeline") or {}, default_profile)
    except Exception:  # noqa: BLE001 - an unknown profile failed the call already; price nothing
        return None
    parts = {kind: (part.provider, part.model) for kind, part in resolved.items()}
    parts["telephony"] = (telephony, getattr(record, "direction", None) or getattr(plan, "direction", None))
    connected = _seconds(getattr(record, "started_at", None), getattr(record, "ended_at", None))
    applied = getattr(plan, "prices", None)  # cb.yaml's prices:, applied with the agent that answered
    return call_cost(usage.summary(connected), parts, from_settings(applied) if applied else prices)


def _call_facts(plan: Any, record: Any) -> dict[str, Any]:
    """Who called whom, who answered, what the carrier said: the payload's outbound-era fields."""
    return dict(
        direction=getattr(record, "direction", None) or getattr(plan, "direction", None),
        from_number=getattr(record, "from_number", None), to_number=getattr(record, "to_number", None),
        answered_by=getattr(record, "answered_by", None), voicemail=getattr(record, "voicemail", None),
        stir_verstat=getattr(record, "stir_verstat", None),
        provider_call_id=getattr(record, "provider_call_id", None),
        sip_response_code=getattr(record, "sip_response_code", None),
        sip_call_id=getattr(record, "sip_call_id", None), remote_party=getattr(record, "remote_party", None),
        codec=getattr(record, "codec", None),
        error_code=getattr(record, "error_code", None),
        error_message=getattr(record, "error", None) if getattr(record, "error_code", None) else None,
        metadata=getattr(plan, "metadata", None), fallbacks=getattr(record, "fallbacks", None),
        compliance=getattr(record, "compliance", None))


class AfterCall:
    def __init__(self, state_dir: str | Path, *, llm_for: LLMFactory | None = None,
                 return_schemas: Callable[[str], dict[str, Any] | None] | None = None,
                 media_url: Callable[[str, str], str] | None = None, notify: Callable[[], None] | None = None,
                 hold_sec: float = HOLD_SEC, max_attempts: int = 3, default_profile: str = "local",
                 telephony_for: Callable[[Any], str] | None = None, prices: Any = DEFAULT_PRICES):
        self.state_dir = Path(state_dir)
        self.conn = connect(self.state_dir)
        outcomes.ensure_schema(self.conn)
        self.outbox = Outbox(self.conn)
        self.llm_for = llm_for
        self.return_schemas = return_schemas or (lambda name: None)
        self.media_url = media_url or (lambda call_id, path: Path(path).resolve().as_uri())
        self.notify = notify or (lambda: None)
        self.hold_sec = hold_sec
        self.max_attempts = max_attempts
        self.tasks: set[asyncio.Task] = set()
        self.default_profile = default_profile
        self.telephony_for = telephony_for or (lambda plan: "local")
        self.prices = prices
        #: called as on_cost(agent, cost) once a call's cost is known (the runner's /metrics)
        self.on_cost: Callable[[str, dict[str, Any]], None] | None = None

    def capture_for(self, plan: Any) -> Any:
        """A recording and transcript for the call (a pipecat observer), under the state dir."""
        from ..calls.pipeline import SAMPLE_RATE
        from .capture import CallCapture

        disclosure = getattr(plan, "disclosure", None)  # recording consent: runner.compliance.disclosure
        return CallCapture(outcomes.call_dir(self.state_dir, plan.call_id), SAMPLE_RATE,
                           hold=disclosure.hold if disclosure is not None else None)

    def call_started(self, plan: Any) -> None:
        """Owe a ``call.started`` delivery if the agent asks for one (called as the call begins)."""
        hook = _webhook(plan)
        if hook is None or "call.started" not in hook.events:
            return None
        payload = WebhookPayload(event="call.started", call_id=plan.call_id, agent=plan.agent,
                                 revision=plan.agent_revision, status="in-progress", started_at=plan.started,
                                 duration_sec=0)

        def owe() -> None:
            with self.outbox.lock:
                enqueue(self.conn, call_id=plan.call_id, url=hook.url, payload=payload, event="call.started",
                        secret_ref=hook.secret)

        async def owe_off_the_loop() -> None:  # the database may be busy for a moment
            await asyncio.to_thread(owe)
            self.notify()

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            owe()
            self.notify()
            return None
        task = asyncio.ensure_future(owe_off_the_loop())
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return None

    async def __call__(self, plan: Any, record: Any, extras: Mapping[str, Any]) -> None:
        task = asyncio.ensure_future(self.process(plan, record, dict(extras)))
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("post-call work failed; a held webhook still goes out when its hold ends",
                      exc_info=task.exception())

    async def drain(self, timeout: float = 30.0) -> None:
        """Let post-call work in flight finish (runner shutdown); held webhooks cover the rest."""
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=timeout)

    def schema_for(self, plan: Any, extras: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        returns = (plan.spec or {}).get("returns")
        if returns is None:
            return None, None
        pinned = extras.get("returns_schema") or getattr(plan, "returns_schema", None)
        if pinned:
            return pinned, None
        if isinstance(returns, dict):
            return returns.get("schema"), None
        schema = self.return_schemas(returns)
        if schema is None:
            return None, f"return schema {returns!r} is not applied on this runner (cb apply it)"
        return schema, None

    def _save(self, call_id: str, **fields: Any) -> None:
        with self.outbox.lock:  # one connection, shared with the outbox: one writer at a time
            outcomes.save(self.conn, call_id, **fields)

    async def process(self, plan: Any, record: Any, extras: dict[str, Any]) -> dict[str, Any]:
        call_id = plan.call_id
        status = getattr(record, "status", None) or "failed"
        event = "call.completed" if status == "completed" else "call.failed"
        hook = _webhook(plan)
        tools = _tool_records(extras)
        capture = _capture(extras)
        try:
            cost = _cost(plan, record, extras, self.default_profile, self.telephony_for(plan), self.prices)
        except Exception:  # noqa: BLE001 - a price must never cost the call its webhook
            log.exception("call %s: cost failed", call_id)
            cost = None
        if cost is not None and self.on_cost is not None:
            self.on_cost(plan.agent, cost)
        base = dict(
            cost=cost,
            event=event, call_id=call_id, agent=plan.agent, revision=plan.agent_revision, status=status,
            started_at=getattr(record, "started_at", None), ended_at=getattr(record, "ended_at", None),
            duration_sec=_seconds(getattr(record, "started_at", None), getattr(record, "ended_at", None)),
            tool_calls=[ToolCallSummary(name=t["name"], ok=t["ok"], status=t.get("status"),
                                        latency_ms=t.get("latency_ms")) for t in tools],
            recording_url=self.media_url(call_id, capture["recording"]) if capture.get("recording") else None,
            transcript_url=self.media_url(call_id, capture["transcript"]) if capture.get("transcript") else None,
            end_reason=getattr(record, "end_reason", None), error=getattr(record, "error", None),
            **_call_facts(plan, record))
        schema, schema_error = self.schema_for(plan, extras)
        held = None
        if hook is not None and event in hook.events:
            provisional = WebhookPayload(**base, returns_error=(
                "the runner stopped before returns were extracted" if schema else schema_error))
            held = await asyncio.to_thread(
                self.outbox.enqueue, call_id=call_id, url=hook.url, payload=provisional, event=event,
                secret_ref=hook.secret, hold_sec=self.hold_sec if schema else None)
            self.notify()
        outcome = ReturnsOutcome(None, schema_error, 0)
        if schema and getattr(record, "direction", None) == "outbound" and not getattr(record, "started_at", None):
            # an outbound call that never connected: nothing was said to extract from
            outcome = ReturnsOutcome(None, f"the call was not answered ({status})", 0)
        elif schema:
            try:
                outcome = await self._extract(plan, record, schema, capture, tools)
            except Exception as exc:  # noqa: BLE001 - the held webhook goes out now, saying why
                log.exception("call %s: returns extraction failed", call_id)
                outcome = ReturnsOutcome(None, f"returns extraction failed: {type(exc).__name__}: {exc}"[:500], 0)
        await asyncio.to_thread(
            self._save, call_id, returns=outcome.returns, returns_error=outcome.error,
            returns_attempts=outcome.attempts, tool_calls=tools, turns=capture.get("turns") or [],
            recording=capture.get("recording"), transcript=capture.get("transcript"),
            webhooks=[held] if held else [], cost=cost)
        payload = WebhookPayload(**base, returns=outcome.returns, returns_error=outcome.error)
        if held and schema:
            if not await asyncio.to_thread(self.outbox.release, held, payload):
                log.warning("call %s: returns were ready after the held webhook was sent", call_id)
            self.notify()
        if schema and hook is not None and "returns.ready" in hook.events:
            ready = payload.model_copy(update={"event": "returns.ready"})
            await asyncio.to_thread(self.outbox.enqueue, call_id=call_id, url=hook.url, payload=ready,
                                    event="returns.ready", secret_ref=hook.secret)
            self.notify()
        return payload.model_dump()

    async def _extract(self, plan: Any, record: Any, schema: dict[str, Any], capture: dict[str, Any],
                       tools: list[dict[str, Any]]) -> ReturnsOutcome:
        turns = capture.get("turns") or [
            {"speaker": t.get("role") or t.get("speaker"), "text": t.get("text", "")}
            for t in getattr(record, "transcript", None) or []]
        try:
            if self.llm_for is None:
                raise RuntimeError("no LLM is configured for returns extraction")
            client, model = self.llm_for(plan)
        except Exception as exc:  # noqa: BLE001 - the outcome must say why, not crash
            return ReturnsOutcome(None, f"cannot reach the agent's LLM for returns: {exc}", 0)
        return await extract_returns(schema, turns, tools, client=client, model=model,
                                     call_time=getattr(record, "started_at", None) or plan.started,
                                     max_attempts=self.max_attempts)


def _plain(value: Any) -> Any:
    """A stored (frozen) revision's content as plain dicts and lists, for jsonschema."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def agent_llm(default_profile: str) -> LLMFactory:
    """The returns LLM is the agent's own LLM: its pipecat service's OpenAI-compatible client."""

    made: dict[str, tuple[Any, str]] = {}  # one client per distinct LLM, not one per call

    def make(plan: Any) -> tuple[Any, str]:
        from cb.providers import pipeline as providers

        part = providers.resolve(plan.settings.pipeline.model_dump(mode="json"), default_profile)["llm"]
        key = repr((part.provider, part.model, sorted(part.options.items())))
        if key not in made:
            service = providers.create("llm", part, providers.CallAudio())
            client = getattr(service, "_client", None)
            if client is None or not hasattr(client, "chat"):
                raise RuntimeError(f"LLM provider {part.provider!r} has no OpenAI-compatible client")
            made[key] = (client, service._settings.model)
        return made[key]

    return make


def install(state_dir: str | Path, *, store: Any = None, default_profile: str = "local",
            public_url: str | None = None, worker_options: Mapping[str, Any] | None = None,
            prices: Any = DEFAULT_PRICES):
    """Wire post-call work and webhook delivery into a runner; returns (after_call, worker).

    The caller starts ``worker.run(stop)`` as a task and, on shutdown, awaits
    ``after_call.drain()`` then sets ``stop``.
    """
    from ..calls import hooks
    from ..webhooks.worker import Worker

    worker = Worker(state_dir, **dict(worker_options or {}))

    def return_schemas(name: str) -> dict[str, Any] | None:
        if store is None:
            return None
        rev = store.snapshot().resources.get(f"return_schema.{name}")
        return _plain(rev.content)["spec"]["schema"] if rev is not None and rev.content else None

    media = None
    if public_url:
        base = public_url.rstrip("/")
        media = lambda call_id, path: f"{base}/v1/calls/{call_id}/{Path(path).name}"  # noqa: E731
    def telephony_for(plan: Any) -> str:
        rev = store.snapshot().resources.get(plan.number) if store is not None and plan.number else None
        return (_plain(rev.content).get("spec") or {}).get("provider", "local") if rev is not None and rev.content \
            else "local"

    after = AfterCall(state_dir, llm_for=agent_llm(default_profile), return_schemas=return_schemas,
                      media_url=media, notify=worker.notify, default_profile=default_profile,
                      telephony_for=telephony_for, prices=prices)
    # One post-call pipeline per process: an earlier app's (a test's, a reload's) must not also
    # record and deliver this one's calls.
    hooks.CALL_ENDED[:] = [h for h in hooks.CALL_ENDED if not isinstance(h, AfterCall)]
    hooks.CALL_OBSERVERS[:] = [h for h in hooks.CALL_OBSERVERS
                               if not isinstance(getattr(h, "__self__", None), AfterCall)]
    hooks.CALL_ENDED.append(after)
    hooks.CALL_OBSERVERS.append(after.capture_for)
    from ..calls.usage import CallUsage

    if CallUsage not in hooks.CALL_OBSERVERS:  # what each call uses, priced after it ends (no state)
        hooks.CALL_OBSERVERS.append(CallUsage)
    hooks.CALL_OBSERVERS.append(after.call_started)  # attaches nothing: it only owes a delivery
    return after, worker
