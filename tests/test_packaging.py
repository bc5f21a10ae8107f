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


def _tracked_data_files() -> list[str]:
    """Every file git tracks under cb/, runner/ and plugins/ that is not a module: what the runner
    reads at run time (templates, static files, the scripted demo's script)."""
    out = subprocess.run(["git", "ls-files", "cb", "runner", "plugins"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.split("\n")
    return [p for p in out if p and not p.endswith(".py") and "/tests/" not in p]


def test_wheel_holds_the_files_the_runner_reads(tmp_path: Path):
    """The call pages' templates and vendored wavesurfer (with its licence) and the scripted demo's
    script must be in a built wheel, at the path the code reads them from (runner/ -> cb/runner/)."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    [wheel] = tmp_path.glob("cb-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = [p if p.startswith("cb/") else f"cb/{p}" for p in _tracked_data_files()]
    for must in ("cb/runner/ui/templates/call.html", "cb/runner/ui/templates/list.html",
                 "cb/runner/ui/static/vendor/wavesurfer.min.js", "cb/runner/ui/static/vendor/wavesurfer.LICENSE",
                 "cb/plugins/scripted/front_desk_demo.yaml"):
        assert must in wanted, must
    missing = [p for p in wanted if p not in names]
    assert not missing, f"not in the wheel (declare them in pyproject's [tool.setuptools.package-data]): {missing}"
