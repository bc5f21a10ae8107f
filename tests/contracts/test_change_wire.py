"""The change wire format: what `cb apply` encodes is exactly what the runner decodes."""

from __future__ import annotations

import json

import pytest

from cb.config.models import KINDS
from cb.contracts.change_wire import from_wire, to_wire
from cb.state.errors import StateError
from cb.state.store import Change


def canonical(kind: str, name: str, spec: dict) -> dict:
    doc = {"apiVersion": "cb/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}
    return KINDS[kind].model_validate(doc).model_dump(mode="json", by_alias=True)


CHANGES = [
    Change("agent.front-desk", "Agent", "front-desk", "create", canonical("Agent", "front-desk", {"instructions": "Hi."})),
    Change("agent.sales", "Agent", "sales", "update", canonical("Agent", "sales", {"instructions": "Sell.", "greeting": "Hello!"})),
    Change("agent.reception", "Agent", "reception", "move", canonical("Agent", "reception", {"instructions": "Greet."}),
           moved_from="agent.lobby"),
    Change("tool.legacy", "Tool", "legacy", "delete"),
]


def test_a_change_set_survives_the_wire():
    wire = json.loads(json.dumps(to_wire(CHANGES)))  # as it travels: JSON over HTTP
    assert from_wire(wire) == CHANGES


def test_a_wrong_entry_refuses_the_whole_set_and_names_every_problem():
    wire = to_wire(CHANGES)
    wire[0] = {**wire[0], "action": "upsert"}
    wire[1] = {**wire[1], "address": "tool.sales"}
    with pytest.raises(StateError) as exc:
        from_wire(wire)
    assert "upsert" in str(exc.value) and "tool.sales" in str(exc.value) and "nothing was applied" in str(exc.value)
