"""A corpus of broken projects: each must produce its diagnostics, with file and line, every time.

Each entry in broken/ is a file (or a folder, for problems across files) whose name starts with
the diagnostic code it must produce. The rendered output is a syrupy snapshot, so any change to
wording, position or hints shows up in review.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cb.config.diagnostics import render_json, render_text
from cb.config.project import validate_paths

BROKEN = Path(__file__).parent / "broken"
CASES = sorted(p.name for p in BROKEN.iterdir() if p.suffix == ".yaml" or p.is_dir())


def test_corpus_is_large_enough():
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES)
def test_broken_project_is_diagnosed(case: str, snapshot):
    projects, diags = validate_paths([case], cwd=BROKEN)
    assert diags, f"{case} produced no diagnostics"
    for d in diags:
        assert d.file.startswith(case), d
        assert d.line >= 1 and d.column >= 1, d
        assert re.fullmatch(r"CB\d{3}", d.code), d
        assert d.message
    expected = case.split("-")[0].upper()
    if expected.startswith("CB"):
        assert expected in {d.code for d in diags}, [d.render() for d in diags]
    files = sum(len(p.files) for p in projects)
    assert render_text(diags, files, 0) == snapshot


def test_many_problems_are_reported_at_once():
    _, diags = validate_paths(["many-problems-in-one-file.yaml"], cwd=BROKEN)
    # the schema errors, and also the references and templates of the documents that had them
    assert {d.code for d in diags} == {"CB101", "CB102", "CB501", "CB301", "CB402"}
    assert len({d.line for d in diags}) == len(diags)


def test_json_format_carries_the_same_diagnostics(snapshot):
    projects, diags = validate_paths(["cb301-unknown-tool.yaml"], cwd=BROKEN)
    out = json.loads(render_json(diags, 1, 0))
    assert out["valid"] is False
    assert out["diagnostics"][0]["code"] == "CB301"
    assert out["diagnostics"][0]["name"] == "unresolved-reference"
    assert out == snapshot
