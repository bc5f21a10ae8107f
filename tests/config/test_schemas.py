"""schemas/ is generated from the models: stale files fail here, and every YAML file we ship
validates against the committed schemas with an independent JSON Schema validator."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from cb.config import schemagen

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
SHIPPED = sorted(p for folder in ("agents", "examples") for p in (ROOT / folder).rglob("*.y*ml"))


def test_committed_schemas_are_fresh():
    generated = schemagen.generate()
    committed = {p.name: p.read_text() for p in SCHEMAS.glob("*.json")}
    stale = [name for name, text in generated.items() if committed.get(name) != text]
    assert not stale, f"run `cb schema`: stale {stale}"
    assert set(committed) == set(generated), "schemas/ holds a file cb schema does not write"


@pytest.mark.parametrize("name", sorted(schemagen.generate()))
def test_each_schema_is_valid_draft_2020_12_with_an_id(name):
    body = json.loads((SCHEMAS / name).read_text())
    assert body["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert body["$id"].startswith("urn:cb:schema:v1:")
    jsonschema.Draft202012Validator.check_schema(body)


def test_we_ship_config_files():
    assert len(SHIPPED) >= 5


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_yaml_names_its_schema_and_validates(path: Path):
    first = path.read_text().splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema="), first
    schema_path = (path.parent / first.split("$schema=", 1)[1]).resolve()
    assert schema_path.parent == SCHEMAS
    validator = jsonschema.Draft202012Validator(json.loads(schema_path.read_text()))
    for doc in yaml.safe_load_all(path.read_text()):
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
        assert not errors, errors


def test_the_any_resource_schema_rejects_what_the_models_reject():
    validator = jsonschema.Draft202012Validator(json.loads((SCHEMAS / "cb.json").read_text()))
    bad = {"apiVersion": "cb/v1", "kind": "Agent", "metadata": {"name": "a"},
           "spec": {"instructions": "hi", "voise": "x"}}
    assert any("voise" in e.message for e in validator.iter_errors(bad))
    number = {"apiVersion": "cb/v1", "kind": "Number", "metadata": {"name": "n"}, "spec": {"number": "555"}}
    assert list(validator.iter_errors(number))


@pytest.mark.parametrize("runs", [{}, {"http": {"url": "https://x.test/a"}, "builtin": {"name": "end_call"}},
                                  {"http": None, "builtin": None}])
def test_the_tool_schema_says_a_tool_runs_exactly_one_way(runs):
    tool = {"apiVersion": "cb/v1", "kind": "Tool", "metadata": {"name": "t"}, "spec": {"description": "d", **runs}}
    for name in ("tool.json", "cb.json"):
        validator = jsonschema.Draft202012Validator(json.loads((SCHEMAS / name).read_text()))
        assert list(validator.iter_errors(tool)), name
    for one in ({"http": {"url": "https://x.test/a"}}, {"builtin": {"name": "end_call"}}):
        ok = {**tool, "spec": {"description": "d", **one}}
        assert not list(jsonschema.Draft202012Validator(json.loads((SCHEMAS / "tool.json").read_text())).iter_errors(ok))
