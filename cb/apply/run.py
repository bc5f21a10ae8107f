"""Drive one apply from the CLI: lock, stream the runner's progress, report, unlock.

The lock is always released, also when the apply failed or the user pressed Ctrl-C: a lock
left behind would block every pipeline until someone runs force-unlock.
"""

from __future__ import annotations

from typing import Any, Callable

from cb.contracts.change_wire import to_wire
from cb.contracts.plan_document import Plan
from cb.plan.planner import to_changes

VERB = {"create": ("creating", "created"), "update": ("updating", "updated"), "delete": ("deleting", "deleted"),
        "move": ("moving", "moved")}


class ApplyFailed(Exception):
    """The runner applied part of the change set (or none of it); the message says exactly what."""


def apply_plan(client: Any, plan: Plan, *, source: str, cause: dict[str, Any], applied_by: str,
               echo: Callable[[str], None]) -> dict[str, Any]:
    from cb.client import RunnerError

    changes = to_changes(plan.changes, adopt=True)
    lock = client.lock(applied_by, f"{source} {plan.project}")
    started = False
    try:
        body = {"lock_id": lock["id"], "lineage": plan.lineage, "serial": plan.serial, "fingerprint": plan.fingerprint,
                "source": source, "cause": cause, "applied_by": applied_by, "changes": to_wire(changes, plan.hashes())}
        result = None
        events = client.apply(body)
        started = True
        for event in events:
            kind = event["event"]
            if kind == "start":
                echo(f"{event['address']}: {VERB[event['action']][0]}...")
            elif kind == "done":
                echo(f"{event['address']}: {VERB[event['action']][1]}")
            elif kind == "failed":
                echo(f"{event['address']}: FAILED: {event['error']}")
            elif kind == "result":
                result = event["result"]
    except RunnerError as exc:
        if started and exc.status == 0:  # the request went out: the runner may have committed it
            raise ApplyFailed(f"lost the runner during the apply ({exc}). The apply may have landed, in part or in "
                              "full: run `cb history` to see what was recorded and `cb plan` to see what is left. "
                              f"If the state lock is still held, release it with `cb force-unlock {lock['id']}`") from None
        raise
    finally:
        try:
            client.unlock(lock["id"])
        except RunnerError:
            pass  # the runner is gone; the message above says how to release the lock
    if result is None:
        raise ApplyFailed("the runner ended the apply without a result; run `cb plan` to see what landed")
    if not result["ok"]:
        applied = ", ".join(result["applied"]) or "nothing"
        left = ", ".join(result["not_applied"]) or "nothing"
        raise ApplyFailed(f"apply failed at {result['failed']['address']}: {result['failed']['error']}\n"
                          f"  applied (now in state, serial {result['serial']}): {applied}\n"
                          f"  NOT applied: {left}\n"
                          "State matches what was applied; fix the cause and run `cb plan` / `cb apply` again.")
    return result
