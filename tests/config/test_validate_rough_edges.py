"""Rough edges of `cb validate` a newcomer hit (issue 11): each message says what is really wrong."""

from __future__ import annotations

from pathlib import Path

from cb.config.diagnostics import render_text
from cb.config.project import load_project, validate_paths

AGENT = "apiVersion: cb/v1\nkind: Agent\nmetadata: {name: a}\nspec: {instructions: hi}\n"


def test_an_empty_folder_mentions_cb_yaml(tmp_path: Path):
    _, diags = validate_paths([], cwd=tmp_path)
    [d] = diags
    assert d.code == "CB702" and d.file == "."
    assert "no cb.yaml" in d.message and "no agents/ folder" in d.message
    assert "cb.yaml" in d.hint


def test_a_typo_in_cb_yaml_is_reported_as_such(tmp_path: Path):
    (tmp_path / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: t\npath: [fleet]\n")
    _, diags = validate_paths([], cwd=tmp_path)
    [d] = diags
    assert (d.file, d.line, d.code) == ("cb.yaml", 4, "CB101")
    assert "did you mean 'paths'?" in d.hint


def test_a_missing_config_folder_is_named_in_cb_yaml(tmp_path: Path):
    (tmp_path / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: t\npaths: [fleet]\n")
    _, diags = validate_paths([], cwd=tmp_path)
    [d] = diags
    assert (d.file, d.line, d.code) == ("cb.yaml", 4, "CB702")
    assert "'fleet' does not exist" in d.message


def test_the_summary_counts_files_with_errors(tmp_path: Path):
    for name in "abc":
        (tmp_path / f"{name}.yaml").write_text(AGENT.replace("name: a", f"name: {name}"))
    (tmp_path / "c.yaml").write_text(AGENT.replace("name: a", "name: c").replace("instructions: hi", "instructions: hi, nope: 1"))
    projects, diags = validate_paths(["."], cwd=tmp_path)
    files = sum(len(p.files) for p in projects)
    assert render_text(diags, files, 2).endswith("\n1 error in 1 file. 3 files checked.")


def test_one_resource_is_valid():
    assert render_text([], 1, 1) == "OK: 1 resource in 1 file is valid."
    assert render_text([], 2, 3) == "OK: 3 resources in 2 files are valid."


def test_load_project_names_the_folder_to_fill(tmp_path: Path):
    (tmp_path / "agents").mkdir()
    _, diags = load_project(None, cwd=tmp_path)
    [d] = diags
    assert "no YAML files found" in d.message
