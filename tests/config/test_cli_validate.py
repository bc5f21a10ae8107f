"""Functional tests: write a small project into a tmp dir and run the real `cb` command."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cb(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cb", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_repo_fleet_and_examples_are_valid():
    proc = cb("validate", "agents", "examples", cwd=ROOT)
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.startswith("OK: ")


def test_default_paths_come_from_cb_yaml(tmp_path: Path):
    shutil.copytree(ROOT / "agents", tmp_path / "fleet")
    (tmp_path / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: t\npaths: [fleet]\n"
                                      "tools: {env: [BOOKING_*]}\n")  # front-desk's tool sends BOOKING_API_TOKEN
    proc = cb("validate", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout
    assert "in 1 file are valid" in proc.stdout


def test_invalid_project_exits_1_with_file_line_and_hint(tmp_path: Path):
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "a.yaml").write_text(
        "apiVersion: cb/v1\nkind: Agent\nmetadata: {name: a}\nspec:\n  instructions: hi\n  tools: [end_cal]\n")
    proc = cb("validate", cwd=tmp_path)
    assert proc.returncode == 1
    assert "agents/a.yaml:6:11: error[CB301] agent.a: spec.tools.0: no Tool named 'end_cal'" in proc.stdout
    assert "hint: did you mean 'end_call'?" in proc.stdout
    assert "1 error in 1 file." in proc.stdout


def test_json_format(tmp_path: Path):
    (tmp_path / "n.yaml").write_text("apiVersion: cb/v1\nkind: Number\nmetadata: {name: n}\nspec: {number: '12'}\n")
    proc = cb("validate", "--format", "json", "n.yaml", cwd=tmp_path)
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["valid"] is False and out["files"] == 1
    [d] = out["diagnostics"]
    assert (d["file"], d["line"], d["code"], d["address"]) == ("n.yaml", 4, "CB501", "number.n")


def test_missing_path_is_a_user_error(tmp_path: Path):
    proc = cb("validate", "nope", cwd=tmp_path)
    assert proc.returncode == 1
    assert "no such file or folder" in proc.stdout


def test_empty_folder_is_an_error_not_a_silent_pass(tmp_path: Path):
    (tmp_path / "agents").mkdir()
    proc = cb("validate", "agents", cwd=tmp_path)
    assert proc.returncode == 1
    assert "no YAML files found" in proc.stdout


def test_schema_check_detects_staleness(tmp_path: Path):
    shutil.copytree(ROOT / "schemas", tmp_path / "schemas")
    assert cb("schema", "--check", cwd=tmp_path).returncode == 0
    (tmp_path / "schemas" / "agent.json").write_text("{}\n")
    proc = cb("schema", "--check", cwd=tmp_path)
    assert proc.returncode == 1 and "agent.json" in proc.stderr
    assert cb("schema", cwd=tmp_path).returncode == 0
    assert (tmp_path / "schemas" / "agent.json").read_text() == (ROOT / "schemas" / "agent.json").read_text()


def test_help_teaches():
    proc = cb("validate", "--help", cwd=ROOT)
    assert proc.returncode == 0 and "Examples:" in proc.stdout
