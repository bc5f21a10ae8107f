"""From a pinned state snapshot and a dialled number to everything one call needs.

Pure data, no pipecat: which Number answers, which Agent revision, its tools, the rendered
instructions and greeting. Built once when the call arrives; the call never looks at the store
again, so a revision applied mid-call cannot touch it.

The agent's spec is validated once per revision into ``cb.config.models.AgentSpec``
(``agent_settings``) and the call path reads its typed attributes (``CallPlan.settings``), so
every default lives in the model and nowhere in the runner.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from cb.config.models import AgentSpec
from cb.config.templates import render_bounded
from cb.state.types import thaw


class NotRoutable(LookupError):
    """No Number (or no Agent) for this call; the message is safe to log."""


@dataclass(frozen=True)
class CallPlan:
    call_id: str
    direction: str
    from_number: str | None
    to_number: str | None
    number: str | None  # the Number resource's address, if routed by number
    agent: str  # agent.front-desk
    agent_revision: str  # content hash of the pinned revision
    state_serial: int
    spec: dict[str, Any]  # the agent's spec, as applied (plain data)
    settings: AgentSpec  # the same spec, validated: what the call path reads
    tools: dict[str, dict[str, Any]]  # tool name -> applied Tool spec (built-ins without one are absent)
    context: dict[str, Any]
    instructions: str
    greeting: str | None
    started: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    #: The return schema as pinned with the agent (a named ReturnSchema resolved from the same
    #: snapshot), so returns are extracted against the schema the call started with.
    returns_schema: dict[str, Any] | None = None
    #: Outbound calls (POST /v1/calls): the webhook URL given for this call, its metadata (echoed
    #: in the webhook) and the voicemail message rendered with its context.
    webhook_url: str | None = None
    metadata: dict[str, Any] | None = None
    voicemail_message: str | None = None
    #: Why a template (instructions, greeting, voicemail message) could not be rendered: the call
    #: is told sorry and hung up, and the record keeps this.
    render_error: str | None = None
    #: tool name -> the tools policy applied with that tool (cb.yaml's ``tools:``); none: strict.
    tool_policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: cb.yaml's ``prices:`` applied with the agent (cb.pricing.from_settings); none: the defaults.
    prices: list[dict[str, Any]] = field(default_factory=list)
    #: Recording consent (runner.compliance.disclosure): the disclosure, already put before the
    #: greeting, and whether the recording waits for it; None when no policy declares one.
    disclosure: Any = None

    @property
    def agent_name(self) -> str:
        return self.agent.split(".", 1)[1]


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:20]


def find_number(snapshot: Any, dialled: str) -> tuple[str, dict[str, Any]]:
    for address, rev in snapshot.resources.items():
        if rev.kind == "Number" and rev.content and rev.content["spec"]["number"] == dialled:
            return address, thaw(rev.content)
    raise NotRoutable(f"no Number resource for {dialled}")


_SETTINGS: OrderedDict[str, AgentSpec] = OrderedDict()  # revision hash -> its validated spec
_SETTINGS_MAX = 256
_settings_lock = threading.Lock()


def agent_settings(revision: str, spec: Mapping[str, Any]) -> AgentSpec:
    """The agent revision's spec as the typed model, validated the first time the revision is
    pinned and reused by every later call to it (a revision's content never changes)."""
    with _settings_lock:
        if revision and revision in _SETTINGS:
            _SETTINGS.move_to_end(revision)
            return _SETTINGS[revision]
    settings = AgentSpec.model_validate(spec)
    if revision:
        with _settings_lock:
            _SETTINGS[revision] = settings
            while len(_SETTINGS) > _SETTINGS_MAX:
                _SETTINGS.popitem(last=False)
    return settings


def context_for(settings: AgentSpec, given: Mapping[str, Any], call: dict[str, Any], started: str) -> dict[str, Any]:
    """Declared defaults, then what the call was given, then the built-ins (``call``, ``now``)."""
    out = {name: copy.deepcopy(var.default) for name, var in settings.context.items()}
    out.update({k: v for k, v in given.items() if k in out})
    missing = [n for n, var in settings.context.items() if var.required and n not in given]
    if missing:
        raise NotRoutable(f"required context variables missing: {', '.join(missing)}")
    out["call"] = call
    out["now"] = started
    return out


def context_problems(settings: AgentSpec, given: Mapping[str, Any]) -> list[str]:
    """What is wrong with a call's given context against the agent's declaration, one line a key."""
    kinds = {"string": (str,), "number": (int, float), "integer": (int,), "boolean": (bool,),
             "object": (dict,), "array": (list,)}
    declared = settings.context
    problems = []
    for key, value in given.items():
        var = declared.get(key)
        if var is None:
            names = ", ".join(sorted(declared)) or "none"
            problems.append(f"context.{key}: not a declared context variable (declared: {names})")
        elif value is not None and (not isinstance(value, kinds[var.type])
                                    or (isinstance(value, bool) and var.type != "boolean")):
            problems.append(f"context.{key}: expected {var.type}, got {type(value).__name__} {value!r:.40}")
    problems += [f"context.{n}: required, not given" for n, var in declared.items() if var.required and n not in given]
    return problems


def plan_call(snapshot: Any, *, agent: str | None = None, to_number: str | None, from_number: str | None,
              direction: str = "inbound", given: Mapping[str, Any] | None = None,
              call_id: str | None = None) -> CallPlan:
    """Route by ``agent`` when given, else by our own number: the one dialled (``to_number``) on
    an inbound call, the one calling out (``from_number``) on an outbound call."""
    number_address = None
    if agent is None:
        ours = from_number if direction == "outbound" else to_number
        number_address, number = find_number(snapshot, ours or "")
        if not number["spec"].get("agent"):
            raise NotRoutable(f"{number_address} has no agent")
        agent = "agent." + number["spec"]["agent"]
    rev = snapshot.resources.get(agent)
    if rev is None or rev.content is None or rev.kind != "Agent":
        raise NotRoutable(f"{agent} is not applied on this runner")
    spec = thaw(rev.content)["spec"]
    prices = thaw(rev.content).get("prices") or []
    settings = agent_settings(rev.hash or "", spec)
    tools: dict[str, dict[str, Any]] = {}
    tool_policies: dict[str, dict[str, Any]] = {}
    for name in settings.tools:
        tool = snapshot.resources.get(f"tool.{name}")
        if tool is not None and tool.content is not None:
            content = thaw(tool.content)
            tools[name] = content["spec"]
            if content.get("policy"):
                tool_policies[name] = content["policy"]
    returns = settings.returns
    returns_schema = None if returns is None or isinstance(returns, str) else copy.deepcopy(returns.schema_)
    if isinstance(returns, str):
        pinned = snapshot.resources.get(f"return_schema.{returns}")
        if pinned is not None and pinned.content is not None:
            returns_schema = thaw(pinned.content)["spec"]["schema"]
    call_id = call_id or new_call_id()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    call = {"id": call_id, "direction": direction, "from_number": from_number, "to_number": to_number}
    context = context_for(settings, given or {}, call, started)
    rendered, render_error = {}, None
    templates = {"instructions": settings.instructions, "greeting": settings.greeting}
    if direction == "outbound":  # said after the beep when an answering machine picks up
        templates["phone.voicemail_message"] = settings.phone.voicemail_message
    for name, source in templates.items():
        try:
            rendered[name] = render_bounded(source, context) if source else None
        except Exception as exc:  # noqa: BLE001 - RenderLimit, jinja's errors, or what a template's maths raised
            rendered[name], render_error = None, render_error or f"{name}: {type(exc).__name__}: {exc}"[:300]
    from ..compliance.disclosure import for_call

    disclosure = for_call(snapshot, spec, to_number if direction == "outbound" else from_number)
    if disclosure is not None and disclosure.text:  # said first, before anything else on the call
        rendered["greeting"] = f"{disclosure.text} {rendered['greeting'] or ''}".strip()
    return CallPlan(
        call_id=call_id, direction=direction, from_number=from_number, to_number=to_number,
        number=number_address, agent=agent, agent_revision=rev.hash or "", state_serial=snapshot.serial,
        spec=spec, settings=settings, tools=tools, context=context,
        instructions=rendered["instructions"] or "", greeting=rendered["greeting"], started=started,
        returns_schema=returns_schema, render_error=render_error, tool_policies=tool_policies, prices=prices,
        voicemail_message=rendered.get("phone.voicemail_message"), disclosure=disclosure)

