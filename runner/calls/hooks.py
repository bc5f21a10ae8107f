"""Where other parts of the runner hear about calls, without the call path knowing them.

``CALL_ENDED`` functions run after a call's record is final, as ``fn(plan, record, extras)``,
sync or async; ``extras`` holds ``tool_calls`` and the ``context`` the call ran with. Post-call
work (returns extraction, webhooks) registers here. A hook that raises is logged, never fatal.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Callable

CALL_ENDED: list[Callable[..., Any]] = []

log = logging.getLogger("cb.runner.calls")


async def call_ended(plan: Any, record: Any, extras: dict[str, Any]) -> None:
    for hook in list(CALL_ENDED):
        try:
            result = hook(plan, record, extras)
            if inspect.isawaitable(result):
                await result
        except Exception:  # noqa: BLE001 - a post-call hook must not break the call path
            log.exception("call-ended hook %r failed for %s", hook, plan.call_id)
