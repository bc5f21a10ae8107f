"""`moved:` in cb.yaml is checked at validate time: well-formed addresses of one kind, a `to` the
project declares, and a `from` it no longer declares (issue 11)."""

from __future__ import annotations

from pathlib import Path

from cb.config.project import load_project

AGENT = "apiVersion: cb/v1\nkind: Agent\nmetadata: {name: front-desk}\nspec: {instructions: hi}\n"


def _project(tmp_path: Path, moved: str) -> list:
    (tmp_path / "cb.yaml").write_text(f"apiVersion: cb/v1\nkind: Project\nname: t\nmoved:\n{moved}")
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "a.yaml").write_text(AGENT)
    return load_project(None, cwd=tmp_path)[1]


def test_a_valid_move_passes(tmp_path: Path):
    assert _project(tmp_path, "  - {from: agent.reception, to: agent.front-desk}\n") == []


def test_a_move_to_an_undeclared_address_is_an_error(tmp_path: Path):
    [d] = _project(tmp_path, "  - {from: agent.reception, to: agent.front-dsk}\n")
    assert (d.file, d.line, d.code) == ("cb.yaml", 5, "CB301")
    assert "no resource agent.front-dsk" in d.message and "did you mean 'agent.front-desk'?" in d.hint


def test_a_malformed_address_is_an_error(tmp_path: Path):
    [d] = _project(tmp_path, "  - {from: reception, to: agent.front-desk}\n")
    assert (d.file, d.line, d.code) == ("cb.yaml", 5, "CB102")
    assert "is not an address" in d.message


def test_a_move_across_kinds_is_an_error(tmp_path: Path):
    [d] = _project(tmp_path, "  - {from: tool.reception, to: agent.front-desk}\n")
    assert d.code == "CB102" and "keeps the kind" in d.message


def test_a_from_still_declared_is_an_error(tmp_path: Path):
    diags = _project(tmp_path, "  - {from: agent.front-desk, to: agent.front-desk}\n")
    assert [d.code for d in diags] == ["CB701"]
