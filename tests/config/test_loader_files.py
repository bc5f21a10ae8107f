"""The loader reads only regular files, bounded, from inside the project (issue 15, item 9).

A device, FIFO or socket in the config folder, a symlink out of the project and `paths` that
climb out of it are each refused with a diagnostic naming the file and the fix, never a hang or
a MemoryError. The runner's watch mode loads through the same code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cb.apply.watch import Watcher
from cb.config.project import load_project

AGENT = "apiVersion: cb/v1\nkind: Agent\nmetadata: {name: a}\nspec: {instructions: hi}\n"
PROJECT = "apiVersion: cb/v1\nkind: Project\nname: t\n"


def cb_validate(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cb", "validate", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=30)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "cb.yaml").write_text(PROJECT)
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "a.yaml").write_text(AGENT)
    return tmp_path


def test_symlink_to_dev_zero_is_refused_not_read(project: Path):
    (project / "agents" / "zero.yaml").symlink_to("/dev/zero")
    proc = cb_validate(project)  # timeout=30: before the fix, MemoryError after reading for seconds
    assert proc.returncode == 1, proc.stderr
    assert "agents/zero.yaml:1:1: error[CB702]" in proc.stdout
    assert "symlink leads outside the project" in proc.stdout and "hint:" in proc.stdout


def test_device_named_directly_is_refused(tmp_path: Path):
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    proc = cb_validate(tmp_path, "zero.yaml")
    assert proc.returncode == 1, proc.stderr
    assert "zero.yaml:1:1: error[CB702] refusing to read a device" in proc.stdout


def test_fifo_is_refused_without_hanging(project: Path):
    os.mkfifo(project / "agents" / "pipe.yaml")
    proc = cb_validate(project)  # before the fix: blocks forever in open()
    assert proc.returncode == 1
    assert "agents/pipe.yaml:1:1: error[CB702] refusing to read a FIFO" in proc.stdout


def test_symlink_inside_the_project_is_fine(project: Path):
    (project / "shared").mkdir()
    (project / "shared" / "b.yaml").write_text(AGENT.replace("name: a", "name: b"))
    (project / "agents" / "b.yaml").symlink_to(project / "shared" / "b.yaml")
    p, diags = load_project(None, cwd=project)
    assert diags == [] and set(p.resources) == {"agent.a", "agent.b"}


def test_paths_may_not_climb_out_of_the_project(tmp_path: Path):
    project = tmp_path / "proj"
    project.mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x.yaml").write_text(AGENT)
    (project / "cb.yaml").write_text(PROJECT + "paths: [../outside, ../../etc]\n")
    _, diags = load_project(None, cwd=project)
    assert [(d.file, d.line, d.code) for d in diags] == [("cb.yaml", 4, "CB701"), ("cb.yaml", 4, "CB701")]
    assert "'../../etc' leads outside the project folder" in diags[0].message + diags[1].message
    assert "allow_outside_paths" in diags[0].hint


def test_allow_outside_paths_lets_a_project_read_a_sibling_folder(tmp_path: Path):
    project = tmp_path / "proj"
    project.mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x.yaml").write_text(AGENT)
    (project / "cb.yaml").write_text(PROJECT + "paths: [../outside]\nallow_outside_paths: true\n")
    p, diags = load_project(None, cwd=project)
    assert diags == [] and list(p.resources) == ["agent.a"]


def test_watch_mode_loads_with_the_same_rules(project: Path):
    os.mkfifo(project / "agents" / "pipe.yaml")
    (project / "agents" / "zero.yaml").symlink_to("/dev/zero")
    _, diags = Watcher(engine=None, directory=project).load()
    assert {(d.file, d.code) for d in diags} == {("agents/pipe.yaml", "CB702"), ("agents/zero.yaml", "CB702")}
