"""A deterministic plan with every kind of change, for the renderer and diff tests."""

from __future__ import annotations

import copy
from typing import Any

from cb.contracts.plan_document import Plan
from cb.plan.diff import compute
from cb.state.canonical import content_hash


def doc(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "cb/v1", "kind": kind, "metadata": {"name": name, "labels": {}}, "spec": spec}


AGENT_V1 = doc("Agent", "front-desk", {
    "instructions": "You are the front desk.\nBook appointments.\nBe brief.\n",
    "greeting": "Hello!", "voice": "en_US-joe-medium", "tools": ["book"],
    "webhook": {"url": "https://acme.dev/calls", "secret": "${env:HOOK_SECRET}"},
})
TOOL = doc("Tool", "book", {"description": "Book it.", "http": {"url": "https://acme.dev/book",
                                                                 "headers": {"Authorization": "Bearer ${env:TOKEN}",
                                                                             "X-Api-Key": "sk-live-oops-0123456789"}}})
OLD_TOOL = doc("Tool", "legacy", {"description": "Old.", "builtin": {"name": "end_call"}})
RECEPTION = doc("Agent", "reception", {"instructions": "Greet.", "greeting": "Hi."})
NUMBER = doc("Number", "main", {"number": "+14155550100", "provider": "local", "agent": "front-desk",
                                "lifecycle": {"prevent_destroy": True}})
SALES_LIVE = doc("Agent", "sales", {"instructions": "Sell.", "greeting": "Watch-edited greeting."})


def meta(content: dict[str, Any], source: str = "apply", rid: int = 1) -> dict[str, Any]:
    kind = content["kind"]
    return {"id": rid, "kind": kind, "name": content["metadata"]["name"], "hash": content_hash(content),
            "source": source, "applied_by": "ops@runner-1" if source != "apply" else "ci-bot",
            "applied_at": "2026-01-02T03:04:05.000Z", "cause": {"message": "hotfix on the host"} if source != "apply" else {},
            "serial": 4}


def address(content: dict[str, Any]) -> str:
    prefix = {"Agent": "agent", "Tool": "tool", "Number": "number"}[content["kind"]]
    return f"{prefix}.{content['metadata']['name']}"


def sample_plan(overwrite_drift: bool = False) -> Plan:
    agent_v2 = copy.deepcopy(AGENT_V1)
    agent_v2["spec"]["instructions"] = "You are the front desk.\nBook appointments with the book tool.\nBe brief.\n"
    agent_v2["spec"]["greeting"] = "Hi there!"
    moved = copy.deepcopy(RECEPTION)
    moved["metadata"]["name"] = "lobby"
    sales_git = doc("Agent", "sales", {"instructions": "Sell.", "greeting": "Git greeting."})
    new_agent = doc("Agent", "billing", {"instructions": "Answer billing questions.\nNever quote prices.\n", "greeting": "Billing."})
    live_docs = [AGENT_V1, OLD_TOOL, RECEPTION, NUMBER]
    live = {address(d): meta(d, rid=n) for n, d in enumerate(live_docs, 1)}
    live["agent.sales"] = meta(SALES_LIVE, "watch", 9)
    contents = {address(d): d for d in live_docs} | {"agent.sales": SALES_LIVE}
    desired_docs = [agent_v2, TOOL, moved, NUMBER, sales_git, new_agent]
    desired = {address(d): (d["kind"], d["metadata"]["name"], d, content_hash(d)) for d in desired_docs}
    tool_live = doc("Tool", "book", {"description": "Book.", "http": {
        "url": "https://acme.dev/book", "headers": {"Authorization": "Bearer ${env:OLD_TOKEN}", "X-Api-Key": "sk-live-old-0123456789"}}})
    live["tool.book"] = meta(tool_live, rid=7)
    contents["tool.book"] = tool_live
    changes, errors = compute(desired, live, lambda addrs: {a: contents[a] for a in addrs}, {},
                              [("agent.reception", "agent.lobby")], overwrite_drift)
    assert not errors
    return Plan(lineage="00000000-0000-4000-8000-000000000000", serial=4, created_at="2026-01-02T03:04:05Z",
                project="demo", runner="http://127.0.0.1:8765", changes=changes, overwrite_drift=overwrite_drift,
                cause={"commit": "0123456789abcdef0123456789abcdef01234567", "author": "Ann <ann@example.com>"})
