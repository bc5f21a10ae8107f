"""Run the tools an agent's LLM asks for, without ever leaving the line silent.

One ``ToolExecutor`` per call. For each request from the LLM it: checks the arguments against
the tool's JSON Schema (invalid: the LLM is told what is wrong, nothing runs, nothing is said);
runs the tool; if the tool has not answered within its filler delay, speaks the filler phrase
through ``say`` while the request goes on; on timeout or failure speaks the failure phrase and
tells the LLM it was already said. Every call leaves a ``ToolCallRecord`` (arguments with
secret-looking fields redacted, status, latency) in ``records``, which the call record keeps.

``say`` is the call path's way to speak (e.g. queue a TTSSpeakFrame); ``control`` ends or
transfers the call (built-ins). Neither is imported here, so this module runs without pipecat.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Awaitable, Callable, Mapping, Protocol

import httpx

from cb.config.models import BUILTIN_TOOLS, BuiltinRun, ToolSpec

from . import egress, http
from .arguments import InvalidArguments, parse_and_check, redact

log = logging.getLogger("cb.runner.tools")

Say = Callable[[str], Awaitable[Any]]

BUILTIN_DESCRIPTIONS = {
    "end_call": "End the call after saying goodbye.",
    "transfer_call": "Transfer the caller to a person.",
    "do_not_call": "The person on the line asked never to be called again: call this at once with their words, "
                   "then confirm politely that they will not be called again.",
}
#: Arguments of the built-ins that take some (the others take none).
BUILTIN_PARAMETERS = {
    "do_not_call": {"type": "object", "properties": {"words": {
        "type": "string", "description": "What the person said to ask not to be called, word for word."}},
        "required": ["words"]},
}


class CallControl(Protocol):
    """What the call path lets built-in tools do to the live call."""

    async def end_call(self) -> None: ...

    async def transfer(self, to: str) -> None: ...

    async def do_not_call(self, words: str) -> None: ...


@dataclass
class ToolCallRecord:
    name: str
    arguments: dict[str, Any]
    ok: bool
    status: str  # ok | invalid_arguments | timeout | http_error | error | refused | unknown_tool | cancelled
    latency_ms: float
    started_at: float
    attempts: int = 0
    at_ms: float | None = None  # from the call's start on the observer's monotonic clock (the recording's axis)
    http_status: int | None = None
    filler_spoken: bool = False
    failure_spoken: bool = False
    error: str | None = None
    result: Any = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> dict[str, Any]:
        """The webhook's view of a tool call (the article's ``{name, ok}`` plus why and how long)."""
        return {"name": self.name, "ok": self.ok, "status": self.status, "latency_ms": self.latency_ms}


@dataclass
class _Outcome:
    ok: bool
    status: str
    result: Any = None
    error: str | None = None
    attempts: int = 1
    http_status: int | None = None


def builtin_spec(name: str) -> ToolSpec:
    """A built-in named in an agent's ``tools`` without a Tool resource of its own."""
    return ToolSpec(description=BUILTIN_DESCRIPTIONS[name], builtin=BuiltinRun(name=name),
                    **({"parameters": BUILTIN_PARAMETERS[name]} if name in BUILTIN_PARAMETERS else {}))


@dataclass
class ToolExecutor:
    tools: Mapping[str, ToolSpec]
    say: Say
    control: CallControl | None = None
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    client: httpx.AsyncClient | None = None
    records: list[ToolCallRecord] = field(default_factory=list)
    #: tool name -> the egress policy it was applied with (a call passes them from its pinned
    #: revision; a tool missing here gets the strict default). None: ``egress.current()``.
    policies: Mapping[str, egress.Policy] | None = None
    #: time.monotonic() at the call's start (its CallObserver's): each record's ``at_ms`` counts from it
    origin: float | None = None

    @classmethod
    def for_agent(cls, tool_names: list[str], resources: Mapping[str, ToolSpec], say: Say, **kw: Any) -> "ToolExecutor":
        tools = {n: resources[n] if n in resources else builtin_spec(n)
                 for n in tool_names if n in resources or n in BUILTIN_TOOLS}
        return cls(tools=tools, say=say, **kw)

    async def execute(self, name: str, arguments: str | dict[str, Any] | None) -> dict[str, Any]:
        """Run one tool call; return what the LLM is told. Never raises for a tool's failure."""
        started, t0 = time.time(), time.monotonic()
        spec = self.tools.get(name)
        shown = arguments if isinstance(arguments, dict) else _maybe_json(arguments)
        if spec is None:
            outcome = _Outcome(False, "unknown_tool", error=f"no tool named {name!r}; available: {sorted(self.tools)}",
                               attempts=0)
            return self._finish(name, shown, outcome, t0, started, False, False)
        try:
            args = parse_and_check(spec.parameters, arguments)
        except InvalidArguments as exc:
            outcome = _Outcome(False, "invalid_arguments", error=f"invalid arguments: {exc}", attempts=0)
            return self._finish(name, shown, outcome, t0, started, False, False)
        policy = None if self.policies is None else self.policies.get(name, egress.Policy())
        task = asyncio.ensure_future(self._run(spec, args, policy))
        filler_spoken = False
        try:
            if spec.filler is not None:
                done, _ = await asyncio.wait({task}, timeout=spec.filler.delay_ms / 1000)
                if not done:
                    filler_spoken = await self._say(spec.filler.phrase)
            outcome = await task
        except asyncio.CancelledError:
            # pipecat cancels a running function call when the caller interrupts (unless it was
            # registered with cancel_on_interruption=False); the log must still show it.
            task.cancel()
            self._finish(name, args, _Outcome(False, "cancelled", error="cancelled: the caller interrupted"),
                         t0, started, filler_spoken, False)
            raise
        except Exception as exc:  # noqa: BLE001 - a tool's bug must not end the call
            log.exception("tool %s raised", name)
            outcome = _Outcome(False, "error", error=f"{type(exc).__name__}: {exc}")
        failure_spoken = False
        if not outcome.ok and outcome.status != "invalid_arguments":
            failure_spoken = await self._say(spec.failure_phrase)
        return self._finish(name, args, outcome, t0, started, filler_spoken, failure_spoken,
                            failure_phrase=spec.failure_phrase)

    async def __call__(self, params: Any) -> None:
        """pipecat's function-call handler shape: ``llm.register_function(name, executor)``."""
        result = await self.execute(params.function_name, params.arguments)
        await params.result_callback(result)

    async def _say(self, text: str) -> bool:
        try:
            await self.say(text)
            return True
        except Exception:  # noqa: BLE001 - the tool result still matters if speech failed
            log.exception("could not speak %r", text)
            return False

    async def _run(self, spec: ToolSpec, args: dict[str, Any], policy: egress.Policy | None = None) -> _Outcome:
        if spec.http is not None:
            if self.client is None:
                async with httpx.AsyncClient() as client:
                    o = await http.call(client, spec.http, args, self.env, policy)
            else:
                o = await http.call(self.client, spec.http, args, self.env, policy)
            return _Outcome(o.ok, o.status, o.result, o.error, o.attempts, o.http_status)
        return await self._builtin(spec.builtin, args)  # type: ignore[arg-type]

    async def _builtin(self, run: BuiltinRun, args: dict[str, Any]) -> _Outcome:
        if self.control is None:
            return _Outcome(False, "error", error=f"{run.name} is not available on this call")
        if run.name == "end_call":
            await self.control.end_call()
            return _Outcome(True, "ok", "The call will end now. Do not say anything more.")
        if run.name == "do_not_call":  # the runner's internal do-not-call list (runner/compliance)
            await self.control.do_not_call(str(args.get("words") or ""))
            return _Outcome(True, "ok", "The number is on the do-not-call list: it will not be called again. "
                            "Confirm that to the person.")
        # The target comes from configuration, never from the conversation alone: a caller must
        # not be able to talk the agent into dialling an arbitrary (premium-rate) number.
        allowed = [*([run.options["to"]] if run.options.get("to") else []), *run.options.get("allowed", [])]
        to = args.get("to") or (allowed[0] if allowed else None)
        if not to or to not in allowed:
            return _Outcome(False, "error", error=(
                f"transfer target {to!r} is not configured" if to else "transfer_call has no target") +
                ": set builtin.options.to (or options.allowed) on the transfer_call tool")
        await self.control.transfer(str(to))
        return _Outcome(True, "ok", f"The caller is being transferred to {to}.")

    def _finish(self, name: str, args: Any, o: _Outcome, t0: float, started: float, filler: bool,
                failure: bool, failure_phrase: str | None = None) -> dict[str, Any]:
        record = ToolCallRecord(
            name=name, arguments=redact(args) if isinstance(args, dict) else {"raw": "[unparsed]"},
            ok=o.ok, status=o.status, latency_ms=round((time.monotonic() - t0) * 1000, 1),
            started_at=started, attempts=o.attempts, http_status=o.http_status, filler_spoken=filler,
            failure_spoken=failure, error=o.error, result=o.result if o.ok else None,
            at_ms=None if self.origin is None else round((t0 - self.origin) * 1000, 1))
        self.records.append(record)
        logged = {k: v for k, v in record.to_dict().items() if k != "result"}
        log.info("tool call %s", json.dumps(logged, default=str), extra={"cb": logged})
        if o.ok:
            return {"ok": True, "result": o.result}
        answer: dict[str, Any] = {"ok": False, "error": o.error}
        if o.result is not None:  # what the endpoint said (e.g. "slot taken"): the LLM can use it
            answer["response"] = o.result
        if o.status == "invalid_arguments":
            answer["fix"] = f"call {name} again with arguments that match its parameters schema"
        elif failure:
            answer["already_said_to_caller"] = failure_phrase
            answer["note"] = "The caller has heard this; do not repeat it. Offer another way forward."
        return answer


def _maybe_json(raw: str | None) -> Any:
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return None
