"""The agent's tools for one call: ``cb.runner.tools`` executes them, this wires it to the call.

The executor validates arguments, runs HTTP tools with their timeouts, speaks filler and failure
phrases, and runs the built-ins through ``CallControl``, which is implemented here: end_call
ends the call once the goodbye has played; transfer_call redirects a real Twilio call;
do_not_call puts the other party's number on the runner's internal do-not-call list
(``hooks.DO_NOT_CALL``: runner/compliance keeps it and checks it before every dial).
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from cb.config.models import ToolSpec
from cb.runner.tools import ToolExecutor, egress

from . import hooks
from .callplan import CallPlan


class SessionControl:
    plan: CallPlan | None = None  # bound by executor_for

    def __init__(self, end: Callable[[str], Awaitable[None]], call_sid: str | None, real_twilio: bool):
        self._end, self._call_sid, self._real = end, call_sid, real_twilio

    async def end_call(self) -> None:
        await self._end("end_call")

    async def transfer(self, to: str) -> None:
        if not (self._real and self._call_sid):
            raise RuntimeError("transfer needs a real Twilio call (this one is local)")
        from cb.runner.tools.transfer import TwilioTransfer

        await TwilioTransfer.from_env(self._call_sid)(to)
        await self._end("transferred")

    async def do_not_call(self, words: str) -> None:
        plan = self.plan
        number = plan.to_number if plan.direction == "outbound" else plan.from_number
        if not number:
            raise RuntimeError("the other party's number is not known on this call")
        await hooks.do_not_call(plan, number, words)


def executor_for(plan: CallPlan, say: Callable[[str], Awaitable[Any]], control: SessionControl) -> ToolExecutor:
    resources = {name: ToolSpec.model_validate(spec) for name, spec in plan.tools.items()}
    policies = {name: egress.Policy.applied(plan.tool_policies.get(name)) for name in plan.tools}
    control.plan = plan
    return ToolExecutor.for_agent(list(plan.settings.tools), resources, say, control=control, policies=policies)
