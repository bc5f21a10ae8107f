"""`cb test --audio`: the repository's booking scenario as a real call through a runner process,
the simulated caller's speech over Media Streams, judged from the call record with the same
assertions as text mode, plus a per-turn latency budget (set impossibly low here, so the report
shows each turn's measured latency)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cb.cli import cli

pytest.importorskip("faster_whisper", reason="the local stack: pip install 'cb[local]'")
pytest.importorskip("piper", reason="the local stack: pip install 'cb[local]'")

ROOT = Path(__file__).resolve().parents[2]


def test_the_booking_scenario_as_a_call_with_a_latency_budget(tmp_path, monkeypatch):
    root = tmp_path / "fleet"
    shutil.copytree(ROOT / "agents", root / "agents")
    shutil.copy(ROOT / "cb.yaml", root / "cb.yaml")
    (root / "scenarios").mkdir()
    books = (ROOT / "scenarios" / "front-desk" / "books.yaml").read_text()
    (root / "scenarios" / "books.yaml").write_text(books.rstrip() + "\n    - latency: {max_ms: 1}\n")
    monkeypatch.chdir(root)

    res = CliRunner().invoke(cli, ["test", "--audio", "--format", "json"])
    assert res.exit_code == 1, res.output
    [scenario] = json.loads(res.stdout)["scenarios"]
    [run] = scenario["runs"]
    assert run["error"] is None, run["error"]
    checks = {c["what"]: c for c in run["checks"]}
    latency = checks.pop("every turn within 1 ms")
    assert not latency["passed"] and latency["detail"].startswith("turn 1: "), latency
    assert len(run["latencies_ms"]) >= 2 and all(ms > 1 for ms in run["latencies_ms"])
    failed = {what: c for what, c in checks.items() if not c["passed"]}
    assert not failed, (failed, run.get("transcript"))  # tool log, says, end_call, turns, returns
    assert [c["name"] for c in run["tool_calls"]] == ["book_appointment", "end_call"]
    assert run["returns"]["caller_name"] == "Jane Doe"

    # text mode refuses the budget rather than skipping it
    res = CliRunner().invoke(cli, ["test"])
    assert res.exit_code == 2 and "measured on audio calls only" in res.output
