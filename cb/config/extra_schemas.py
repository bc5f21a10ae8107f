"""Schemas of things cb produces rather than reads (e.g. the webhook payload).

Other parts of cb register a model here so that `cb schema` publishes it beside the config
schemas. Each entry: file stem -> pydantic model.
"""

from __future__ import annotations

import importlib
from typing import Any

#: file stem -> "module:Model". Kept as strings so the config core imports nothing else.
PUBLISHED: dict[str, str] = {
    "webhook-payload": "cb.contracts.webhook_payload:WebhookPayload",
    "plan": "cb.contracts.plan_document:PlanDocument",
}


def generate() -> dict[str, Any]:
    from .schemagen import DIALECT, schema_id

    out = {}
    for stem, target in PUBLISHED.items():
        module, attr = target.split(":")
        model = getattr(importlib.import_module(module), attr)
        out[f"{stem}.json"] = {"$schema": DIALECT, "$id": schema_id(stem),
                               **model.model_json_schema(by_alias=True)}
    return out
