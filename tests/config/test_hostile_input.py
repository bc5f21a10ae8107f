"""Hostile input gets a clear error within a second or two: never a traceback, never code execution."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

CB = [sys.executable, "-m", "cb"]


def run_cb(args, cwd, timeout=20):
    started = time.monotonic()
    proc = subprocess.run(CB + args, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    return proc, time.monotonic() - started


HOSTILE = {
    "alias-bomb.yaml": "".join(
        [f'{c}: &{c} [{",".join(["*" + p] * 9) if p else ",".join(["lol"] * 9)}]\n'
         for p, c in zip([None, "a", "b", "c", "d", "e", "f", "g", "h"], "abcdefghi")]),
    "deep-nesting.yaml": "a: " + "[" * 10000 + "]" * 10000 + "\n",
    "deep-mapping.yaml": "".join("  " * i + f"k{i}:\n" for i in range(3000)),
    "python-tag.yaml": "apiVersion: cb/v1\nkind: Agent\nmetadata: {name: a}\n"
                       "spec:\n  instructions: !!python/object/apply:os.system ['touch PWNED']\n",
    "python-name.yaml": "x: !!python/name:os.system\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_yaml_is_refused_quickly(tmp_path: Path, name: str):
    (tmp_path / name).write_text(HOSTILE[name])
    proc, took = run_cb(["validate", name], tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert f"{name}:" in proc.stdout and "error[CB00" in proc.stdout
    assert not (tmp_path / "PWNED").exists()
    assert took < 10  # generous for a loaded 2-core CI box; typically ~0.3 s


def test_binary_garbage(tmp_path: Path):
    (tmp_path / "garbage.yaml").write_bytes(os.urandom(64 * 1024))
    proc, _ = run_cb(["validate", "garbage.yaml"], tmp_path)
    assert proc.returncode == 1
    assert "garbage.yaml:" in proc.stdout and "Traceback" not in proc.stderr


def test_fifty_megabyte_file_is_refused_without_reading_it(tmp_path: Path):
    big = tmp_path / "huge.yaml"
    with open(big, "wb") as fh:
        fh.write(b"apiVersion: cb/v1\n# " + b"x" * (50 * 1024 * 1024) + b"\n")
    proc, took = run_cb(["validate", "huge.yaml"], tmp_path)
    assert proc.returncode == 1
    assert "huge.yaml:1:1: error[CB004]" in proc.stdout
    assert "50.0 MiB" in proc.stdout
    assert took < 10


def test_invalid_utf8_names_the_line(tmp_path: Path):
    (tmp_path / "latin1.yaml").write_bytes(b"a: 1\nb: caf\xe9\n")
    proc, _ = run_cb(["validate", "latin1.yaml"], tmp_path)
    assert proc.returncode == 1
    assert "latin1.yaml:2:1: error[CB001] not valid UTF-8" in proc.stdout
