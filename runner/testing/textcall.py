"""One scenario as a text call: what a call does, minus the audio.

Everything the agent meets comes from the runner's own code: the context and prompt
(``callplan.context_for`` and ``cb.config.templates.render``, as ``plan_call`` does), the tool
declarations (``pipeline.tools_schema`` in the OpenAI format pipecat sends), the tool executor
(``cb.runner.tools``: argument checks, filler and failure phrases, timeouts, retries), the LLM
(``postcall.after_hangup.agent_llm``: the agent's provider from the registry and its
OpenAI-compatible client, streamed as on a call) and returns extraction
(``postcall.returns.extract_returns``). Only the caller is simulated (scripted lines or an
LLM-played persona, ``persona``), an LLM judges any rubric (``judge``), and each HTTP tool's
endpoint is a stub on 127.0.0.1 (``stubs``); secrets referenced by tools resolve to placeholders.
"""

from __future__ import annotations

import ipaddress
import json
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator, Mapping

from cb.config.models import AgentSpec, ProviderConfig, ToolSpec
from cb.config.scenarios import LoadedScenario
from cb.config.templates import render
from cb.testing.assertions import judge_all
from cb.testing.outcome import Run

from ..calls.callplan import NotRoutable, context_for
from ..postcall.after_hangup import agent_llm
from ..postcall.returns import extract_returns
from ..tools import ToolExecutor, egress
from .fleet import Fleet
from .judge import verdict
from .persona import Lines, Persona
from .stubs import ToolStubs

#: LLM rounds within one caller turn (tool call, result, answer, ...) before the turn is cut off.
MAX_ROUNDS = 8


class _Placeholders(Mapping[str, str]):
    """Every ``${env:NAME}`` a tool references resolves, to a placeholder: no secret reaches a stub."""

    def __getitem__(self, key: str) -> str:
        return "cb-test-placeholder"

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __contains__(self, key: object) -> bool:
        return True


class _Control:
    """The built-ins' view of the call: end_call and transfer_call end the text call."""

    def __init__(self) -> None:
        self.ended: str | None = None

    async def end_call(self) -> None:
        self.ended = "end_call"

    async def transfer(self, to: str) -> None:
        self.ended = f"transferred to {to}"

    async def do_not_call(self, words: str) -> None:
        """A test call's callee is nobody: the scenario sees the tool call, no list is written."""


def scenario_llm(scenario: LoadedScenario) -> ProviderConfig | None:
    """The scenario's LLM, with a scripted LLM's ``script`` resolved against the scenario's folder."""
    llm = scenario.spec.llm
    if llm is None:
        return None
    script = llm.options.get("script")
    if isinstance(script, str) and not Path(script).is_absolute():
        llm = llm.model_copy(update={"options": {**llm.options, "script": str(scenario.path.parent / script)}})
    return llm


def _stubbed(tools: Mapping[str, ToolSpec], stubs: ToolStubs) -> dict[str, ToolSpec]:
    return {name: spec.model_copy(update={"http": spec.http.model_copy(update={"url": stubs.url(name)})})
            if spec.http is not None else spec for name, spec in tools.items()}


async def _complete(client: Any, model: str, messages: list[dict[str, Any]], tools: list[Any] | None,
                    temperature: float | None) -> tuple[str, list[dict[str, Any]]]:
    """One streamed chat completion, as pipecat's OpenAI service makes it: text and tool calls."""
    kwargs: dict[str, Any] = {"model": model, "messages": messages, "stream": True}
    if tools:
        kwargs["tools"] = tools
    if temperature is not None:
        kwargs["temperature"] = temperature
    stream = await client.chat.completions.create(**kwargs)
    text: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    async for chunk in stream:
        for choice in chunk.choices or []:
            delta = choice.delta
            if delta.content:
                text.append(delta.content)
            for tc in delta.tool_calls or []:
                call = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = tc.id or call["id"]
                if tc.function is not None:
                    call["name"] += tc.function.name or ""
                    call["arguments"] += tc.function.arguments or ""
    return "".join(text).strip(), [calls[i] for i in sorted(calls)]


def _declarations(tools: Mapping[str, ToolSpec]) -> list[Any] | None:
    """The tools as the runner declares them to the LLM (pipeline.tools_schema, OpenAI format)."""
    from pipecat.adapters.llm.services.open_ai_adapter import OpenAILLMAdapter

    from ..calls.pipeline import tools_schema

    schema = tools_schema(dict(tools))
    return OpenAILLMAdapter().to_provider_tools_format(schema) if schema else None


async def run_scenario(scenario: LoadedScenario, fleet: Fleet, *, default_profile: str = "local",
                       use_scenario_llm: bool = True, llm_for: Any = None) -> Run:
    """One run of ``scenario`` against ``fleet``; never raises for the agent's or the LLM's sake."""
    t0 = time.monotonic()
    run = Run()
    before = egress.current()
    # The stubs listen on loopback and every ${env:} a tool names resolves to a placeholder; the
    # runner's own credentials stay refused, as on a call.
    egress.configure(egress.Policy(allow_networks=(ipaddress.ip_network("127.0.0.1/32"),), any_env=True))
    try:
        await _converse(scenario, fleet, run, default_profile, use_scenario_llm, llm_for or agent_llm(default_profile))
    except NotRoutable as exc:
        run.error = str(exc)
    except Exception as exc:  # noqa: BLE001 - a broken LLM or provider is the run's failure, reported
        run.error = f"{type(exc).__name__}: {exc}"[:500]
    finally:
        egress.configure(before)
    run.seconds = round(time.monotonic() - t0, 3)
    if run.error is None:
        run.checks = judge_all(scenario.spec.expect, run)
    return run


async def _converse(scenario: LoadedScenario, fleet: Fleet, run: Run, default_profile: str,
                    use_scenario_llm: bool, llm_for: Any) -> None:
    spec = scenario.spec
    agent: AgentSpec | None = fleet.agents.get(spec.agent)
    if agent is None:
        raise NotRoutable(f"agent.{spec.agent} is not in this revision")
    override = scenario_llm(scenario) if use_scenario_llm else None
    settings = with_llm(agent, override)
    client, model = llm_for(SimpleNamespace(settings=settings))
    temperature = (override or settings.pipeline.llm or ProviderConfig(provider="-")).options.get("temperature")

    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    call = {"id": "test_" + uuid.uuid4().hex[:16], "direction": "inbound", "from_number": "+15005550006",
            "to_number": None}
    context = context_for(agent, spec.context, call, started)
    messages: list[dict[str, Any]] = [{"role": "system", "content": render(agent.instructions, context)}]

    async def say(text: str) -> None:  # filler and failure phrases: the caller hears them
        run.transcript.append({"speaker": "agent", "text": text})

    if agent.greeting:
        greeting = render(agent.greeting, context)
        run.transcript.append({"speaker": "agent", "text": greeting})
        messages.append({"role": "assistant", "content": greeting})

    control = _Control()
    with ToolStubs(dict(spec.tools)) as stubs:
        present = {n: fleet.tools[n] for n in agent.tools if n in fleet.tools}
        executor = ToolExecutor.for_agent(list(agent.tools), _stubbed(present, stubs), say, control=control,
                                          env=_Placeholders())
        declared = _declarations(executor.tools)
        speaker = caller_for(spec, agent, llm_for)
        while not control.ended:
            line = await speaker.next(run.transcript)
            if line is None:
                break
            run.turns += 1
            run.transcript.append({"speaker": "caller", "text": line})
            messages.append({"role": "user", "content": line})
            for _ in range(MAX_ROUNDS):
                text, calls = await _complete(client, model, messages, declared, temperature)
                if text:
                    run.transcript.append({"speaker": "agent", "text": text})
                message: dict[str, Any] = {"role": "assistant", "content": text or None}
                if calls:
                    message["tool_calls"] = [{"id": c["id"] or f"call_{i}", "type": "function",
                                              "function": {"name": c["name"], "arguments": c["arguments"] or "{}"}}
                                             for i, c in enumerate(calls)]
                messages.append(message)
                if not calls:
                    break
                for c, sent in zip(calls, message["tool_calls"]):
                    result = await executor.execute(c["name"], c["arguments"])
                    record = executor.records[-1]
                    run.tool_calls.append({"name": c["name"], "arguments": _parsed(c["arguments"]), "ok": record.ok,
                                           "status": record.status, "result": record.result, "error": record.error})
                    messages.append({"role": "tool", "tool_call_id": sent["id"], "content": json.dumps(result)})
                if control.ended:
                    break
    run.ended_call = control.ended == "end_call"

    schema = fleet.returns_schema(agent)
    if schema is not None:
        outcome = await extract_returns(schema, run.transcript, executor.records, client=client, model=model,
                                        call_time=started)
        run.returns, run.returns_error = outcome.returns, outcome.error
    await judge_run(spec, agent, run, llm_for)


def _llm(agent: AgentSpec, llm: ProviderConfig | None, llm_for: Any) -> tuple[Any, str]:
    """An LLM for the test's side (persona, judge): ``llm`` if given, else the agent's own."""
    return llm_for(SimpleNamespace(settings=with_llm(agent, llm)))


def with_llm(agent: AgentSpec, llm: ProviderConfig | None) -> AgentSpec:
    """``agent`` with ``llm`` as its pipeline's LLM, validated into the pipeline's own types."""
    if llm is None:
        return agent
    pipeline = type(agent.pipeline).model_validate(
        {**agent.pipeline.model_dump(mode="json", by_alias=True, exclude_none=True),
         "llm": llm.model_dump(mode="json", exclude_none=True)})
    return agent.model_copy(update={"pipeline": pipeline})


def caller_for(spec: Any, agent: AgentSpec, llm_for: Any) -> Lines | Persona:
    if spec.caller.lines is not None:
        return Lines(spec.caller.lines)
    return Persona(spec.caller, *_llm(agent, spec.caller.llm, llm_for))


async def judge_run(spec: Any, agent: AgentSpec, run: Run, llm_for: Any) -> None:
    """Each ``judge`` assertion's verdict on the finished run (text or audio), kept on ``run``."""
    for i, a in enumerate(spec.expect):
        if a.judge is not None:
            client, model = _llm(agent, a.judge.llm, llm_for)
            run.verdicts[i] = await verdict(a.judge.rubric, run.transcript, run.tool_calls, client=client, model=model)


def _parsed(raw: str) -> Any:
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return {"raw": raw}
