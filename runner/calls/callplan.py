"""From a pinned state snapshot and a dialled number to everything one call needs.

Pure data, no pipecat: which Number answers, which Agent revision, its tools, the rendered
instructions and greeting. Built once when the call arrives; the call never looks at the store
again, so a revision applied mid-call cannot touch it.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from cb.config.templates import render
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
    spec: dict[str, Any]  # the agent's spec, as applied
    tools: dict[str, dict[str, Any]]  # tool name -> applied Tool spec (built-ins without one are absent)
    context: dict[str, Any]
    instructions: str
    greeting: str | None
    started: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    #: The return schema as pinned with the agent (a named ReturnSchema resolved from the same
    #: snapshot), so returns are extracted against the schema the call started with.
    returns_schema: dict[str, Any] | None = None

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


def context_for(spec: dict[str, Any], given: Mapping[str, Any], call: dict[str, Any], started: str) -> dict[str, Any]:
    """Declared defaults, then what the call was given, then the built-ins (``call``, ``now``)."""
    out = {name: copy.deepcopy(var.get("default")) for name, var in (spec.get("context") or {}).items()}
    out.update({k: v for k, v in given.items() if k in out})
    missing = [n for n, var in (spec.get("context") or {}).items() if var.get("required") and n not in given]
    if missing:
        raise NotRoutable(f"required context variables missing: {', '.join(missing)}")
    out["call"] = call
    out["now"] = started
    return out


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
    tools: dict[str, dict[str, Any]] = {}
    for name in spec.get("tools") or []:
        tool = snapshot.resources.get(f"tool.{name}")
        if tool is not None and tool.content is not None:
            tools[name] = thaw(tool.content)["spec"]
    returns = spec.get("returns")
    returns_schema = returns.get("schema") if isinstance(returns, dict) else None
    if isinstance(returns, str):
        pinned = snapshot.resources.get(f"return_schema.{returns}")
        if pinned is not None and pinned.content is not None:
            returns_schema = thaw(pinned.content)["spec"]["schema"]
    call_id = call_id or new_call_id()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    call = {"id": call_id, "direction": direction, "from_number": from_number, "to_number": to_number}
    context = context_for(spec, given or {}, call, started)
    return CallPlan(
        call_id=call_id, direction=direction, from_number=from_number, to_number=to_number,
        number=number_address, agent=agent, agent_revision=rev.hash or "", state_serial=snapshot.serial,
        spec=spec, tools=tools, context=context, instructions=render(spec["instructions"], context),
        greeting=render(spec["greeting"], context) if spec.get("greeting") else None, started=started,
        returns_schema=returns_schema)

