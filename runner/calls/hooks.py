"""Where other parts of the runner hear about calls, without the call path knowing them.

``CALL_ENDED`` functions run after a call's record is final, as ``fn(plan, record, extras)``,
sync or async; ``extras`` holds ``tools`` (the call's ToolExecutor), ``tool_records``, ``turns``
(per-turn latency) and the ``context`` the call ran with. Post-call
work (returns extraction, webhooks) registers here. A hook that raises is logged, never fatal.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Callable

CALL_ENDED: list[Callable[..., Any]] = []

#: Observers other parts of the runner attach to every call (e.g. the recording), as
#: ``fn(plan) -> observer | None``: anything with ``async on_push_frame(FramePushed)``, called for
#: every frame push of the call through its CallObserver; the call-ended ``extras`` list them as
#: ``observers``.
CALL_OBSERVERS: list[Callable[[Any], Any]] = []

#: Who keeps the runner's internal do-not-call list, as ``fn(plan, number, words)`` (sync or
#: async): the ``do_not_call`` built-in calls each when the person on the line asks not to be
#: called again (runner/compliance registers the dial queue's table). None registered: the tool
#: fails, so the LLM does not promise what nobody keeps.
DO_NOT_CALL: list[Callable[..., Any]] = []

log = logging.getLogger("cb.runner.calls")


def observers_for(plan: Any) -> list[Any]:
    made = []
    for make in list(CALL_OBSERVERS):
        try:
            observer = make(plan)
        except Exception:  # noqa: BLE001 - a recording that cannot start must not stop the call
            log.exception("call observer %r failed for %s", make, plan.call_id)
            continue
        if observer is not None:
            made.append(observer)
    return made


async def call_ended(plan: Any, record: Any, extras: dict[str, Any]) -> None:
    for hook in list(CALL_ENDED):
        try:
            result = hook(plan, record, extras)
            if inspect.isawaitable(result):
                await result
        except Exception:  # noqa: BLE001 - a post-call hook must not break the call path
            log.exception("call-ended hook %r failed for %s", hook, plan.call_id)


async def do_not_call(plan: Any, number: str, words: str) -> None:
    """Tell every keeper of the do-not-call list; unlike the call-ended hooks a failure is raised,
    so the tool reports it rather than the agent promising a listing that was not written."""
    if not DO_NOT_CALL:
        raise RuntimeError("this runner keeps no do-not-call list")
    for keep in list(DO_NOT_CALL):
        result = keep(plan, number, words)
        if inspect.isawaitable(result):
            await result
