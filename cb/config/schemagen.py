"""JSON Schemas (draft 2020-12) generated from the models: what editors and other tools read.

``schemas/`` is committed; ``cb schema`` rewrites it and a test fails when it is stale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .models import KINDS, ProjectFile
from .scenarios import Scenario

DIALECT = "https://json-schema.org/draft/2020-12/schema"

#: file name (without .json) -> model
FILES: dict[str, type[BaseModel]] = {
    "agent": KINDS["Agent"],
    "tool": KINDS["Tool"],
    "number": KINDS["Number"],
    "compliance-policy": KINDS["CompliancePolicy"],
    "return-schema": KINDS["ReturnSchema"],
    "scenario": Scenario,  # run by cb test, never applied: not one of KINDS
    "project": ProjectFile,
}


def schema_id(name: str) -> str:
    return f"urn:cb:schema:v1:{name}"


def _one(name: str, model: type[BaseModel]) -> dict[str, Any]:
    body = model.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": DIALECT, "$id": schema_id(name), **body}


def _any_resource() -> dict[str, Any]:
    """One schema for a file of mixed documents: chosen by `kind`, so editors complete each."""
    defs: dict[str, Any] = {}
    branches = []
    for name, model in FILES.items():
        if model is ProjectFile:
            continue
        body = model.model_json_schema(by_alias=True, mode="validation", ref_template="#/$defs/{model}")
        defs.update(body.pop("$defs", {}))
        defs[model.__name__] = body
        kind = model.model_fields["kind"].annotation.__args__[0]
        branches.append({"if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                         "then": {"$ref": f"#/$defs/{model.__name__}"}})
    kinds = [m.model_fields["kind"].annotation.__args__[0] for m in FILES.values() if m is not ProjectFile]
    return {
        "$schema": DIALECT,
        "$id": schema_id("cb"),
        "title": "cb/v1 resource",
        "description": "Any cb/v1 document; the schema that applies is chosen by `kind`.",
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {"apiVersion": {"const": "cb/v1"}, "kind": {"enum": kinds}},
        "allOf": branches,
        "$defs": dict(sorted(defs.items())),
    }


def generate() -> dict[str, str]:
    """file name -> JSON text, stable (sorted keys, trailing newline)."""
    out = {f"{name}.json": _one(name, model) for name, model in FILES.items()}
    out["cb.json"] = _any_resource()
    from . import extra_schemas

    out.update(extra_schemas.generate())
    return {name: json.dumps(body, indent=2, sort_keys=True) + "\n" for name, body in sorted(out.items())}


def write(folder: Path) -> list[str]:
    """Write every schema into ``folder``; return the names of files that changed."""
    folder.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, text in generate().items():
        path = folder / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed.append(name)
    return changed
