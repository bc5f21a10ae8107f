"""runner/ and plugins/ must install as cb.runner and cb.plugins, in a wheel as in editable mode,
and nothing may land in site-packages under a generic top-level name."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_editable_install_maps_the_folders():
    out = subprocess.run(
        [sys.executable, "-c", "import cb.runner, cb.plugins; print(cb.runner.__file__); print(cb.plugins.__file__)"],
        cwd="/", capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(ROOT / "runner" / "__init__.py"), str(ROOT / "plugins" / "__init__.py")]


def test_wheel_holds_only_the_cb_namespace(tmp_path: Path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    [wheel] = tmp_path.glob("cb-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"cb"}, tops
    assert "cb/runner/__init__.py" in names and "cb/plugins/__init__.py" in names
    assert "cb/config/models.py" in names
