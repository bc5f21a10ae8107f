"""A rollback is a plan: one address, from its live revision to a copy of an earlier one."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from cb.config.models import APPLIED_KINDS
from cb.contracts.plan_document import Plan, ResourceChange
from cb.state.canonical import content_hash

from .diff import field_changes


def rollback_plan(client: Any, address: str, ref: str, message: str | None) -> Plan:
    view = client.state()
    target = client.revision(address, ref)
    if target.get("content") is None:
        raise_user(f"{address}@{ref} is a deletion; there is nothing to roll back to (re-add it in git instead)")
    live = view["resources"].get(address)
    content = target["content"]
    if target["address"] != address:
        content = {**content, "metadata": {**content["metadata"], "name": address.split(".", 1)[1]}}
    try:  # as the runner will store it, so the hash the plan records is the one it checks
        content = APPLIED_KINDS[target["kind"]].model_validate(content).model_dump(mode="json", by_alias=True)
    except ValueError as exc:
        raise_user(f"{address}@{ref} is not a valid {target['kind']} for this cb any more: {exc}")
    new_hash = content_hash(content)
    before = client.contents([address]).get(address) if live else None
    if live and live["hash"] == new_hash:
        actions = ["no-op"]
    else:
        actions = ["update"] if live else ["create"]
    change = ResourceChange(address, target["kind"], address.split(".", 1)[1], actions, before, content,
                            live["hash"] if live else None, new_hash)
    if actions != ["no-op"]:
        change.fields = field_changes(before, content)
    cause = {"message": message or f"rollback of {address} to r{target['id']} (serial {target['serial']})",
             "commit": (target.get("cause") or {}).get("commit")}
    return Plan(lineage=view["lineage"], serial=view["serial"], fingerprint=view.get("fingerprint"),
                created_at=datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
                project="rollback", runner=client.url, changes=[change], cause=cause)


def raise_user(message: str) -> None:
    from cb.client import RunnerError

    raise RunnerError(message)
