"""Scenario files are configuration: cb validate checks them against the agents they test, with
file:line like any other error, and the committed schema describes them for editors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import yaml
from click.testing import CliRunner

from cb.cli import cli

ROOT = Path(__file__).resolve().parents[2]

BAD = """\
apiVersion: cb/v1
kind: Scenario
metadata: {name: bad}
spec:
  agent: front-desk
  context: {business_nam: X}
  caller: {lines: ["hi"]}
  tools:
    book_apointment: {responses: [{status: 200}]}
  expect:
    - tool_called: {name: book_appointment, arguments_schema: {type: 12}}
    - tool_not_called: send_sms
    - returns: {schema: {type: object, required: "x"}}
---
apiVersion: cb/v1
kind: Scenario
metadata: {name: bad2}
spec:
  agent: front-dsk
  caller: {lines: ["hi"]}
  expect: []
"""


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "fleet"
    shutil.copytree(ROOT / "agents", root / "agents")
    shutil.copy(ROOT / "cb.yaml", root / "cb.yaml")
    (root / "scenarios").mkdir()
    return root


def _validate(root: Path, monkeypatch, *args: str) -> tuple[int, str]:
    monkeypatch.chdir(root)
    res = CliRunner().invoke(cli, ["validate", *args])
    return res.exit_code, res.stdout


def test_unknown_names_and_bad_schemas_are_reported_with_file_and_line(tmp_path, monkeypatch):
    root = _project(tmp_path)
    (root / "scenarios" / "bad.yaml").write_text(BAD)
    for args in ((), ("scenarios/bad.yaml",)):
        code, out = _validate(root, monkeypatch, *args)
        assert code == 1, out
        assert "scenarios/bad.yaml:6:27: error[CB301] scenario.bad: context.business_nam: no context variable" in out
        assert "did you mean 'business_name'?" in out
        assert "scenarios/bad.yaml:9:22: error[CB301] scenario.bad: tools.book_apointment: no tool" in out
        assert "scenarios/bad.yaml:11:70: error[CB201] scenario.bad: arguments_schema is not a valid JSON Schema" in out
        assert "scenarios/bad.yaml:12:24: error[CB301] scenario.bad: expect.1.tool_not_called: no tool" in out
        assert "scenarios/bad.yaml:13:50: error[CB201] scenario.bad: returns.schema is not a valid JSON Schema" in out
        assert "scenarios/bad.yaml:19:10: error[CB301] scenario.bad2: agent: no Agent named 'front-dsk'" in out
        assert "scenarios/bad.yaml:21:11: error[CB102] scenario.bad2: spec.expect: a scenario needs at least one " \
               "assertion" in out


def test_config_paths_given_validate_their_projects_scenarios_too(tmp_path, monkeypatch):
    root = _project(tmp_path)
    (root / "scenarios" / "bad.yaml").write_text(BAD)
    example = root / "examples" / "one"
    shutil.copytree(ROOT / "examples" / "after-hours", example)
    (example / "scenarios" / "burst-pipe.yaml").write_text(
        (example / "scenarios" / "burst-pipe.yaml").read_text().replace("agent: after-hours", "agent: after-hour"))
    code, out = _validate(root, monkeypatch, "agents", "examples", "agents/front-desk.yaml")
    assert code == 1, out
    assert "scenarios/bad.yaml:19:10: error[CB301] scenario.bad2: agent: no Agent named 'front-dsk'" in out
    assert "examples/one/scenarios/burst-pipe.yaml" in out and "no Agent named 'after-hour'" in out
    assert out.count("no Agent named 'front-dsk'") == 1  # once, however many of its files were named


def test_an_entry_with_two_assertions_and_a_stray_resource_are_errors(tmp_path, monkeypatch):
    root = _project(tmp_path)
    (root / "scenarios" / "two.yaml").write_text(
        "apiVersion: cb/v1\nkind: Scenario\nmetadata: {name: two}\nspec:\n  agent: front-desk\n"
        "  caller: {lines: [hi]}\n  expect:\n    - {says: hi, never_says: bye}\n---\n"
        "apiVersion: cb/v1\nkind: Tool\nmetadata: {name: t}\nspec: {description: x, builtin: {name: end_call}}\n")
    code, out = _validate(root, monkeypatch)
    assert code == 1
    assert "scenarios/two.yaml:8:7: error[CB102] scenario.two: spec.expect.0: each expect entry holds exactly one" in out
    assert "scenarios/two.yaml:11:7: error[CB006] a scenario folder holds only `kind: Scenario` documents" in out


def test_the_repositorys_scenarios_are_valid_and_match_the_committed_schema(monkeypatch):
    code, out = _validate(ROOT, monkeypatch)
    assert code == 0, out
    schema = json.loads((ROOT / "schemas" / "cb.json").read_text())
    files = sorted(ROOT.glob("scenarios/**/*.yaml")) + sorted(ROOT.glob("examples/*/scenarios/*.yaml"))
    assert len(files) >= 5
    for file in files:
        for doc in yaml.safe_load_all(file.read_text()):
            jsonschema.Draft202012Validator(schema).validate(doc)
