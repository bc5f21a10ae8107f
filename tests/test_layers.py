"""Layers are enforced, not hoped for: the config/plan/state core never pulls in the call path.

import-linter (configured in pyproject.toml) checks the static imports of cb.* against pipecat;
this test also covers cb.runner and cb.plugins, which import-linter cannot see because setup.py
maps them from the top-level runner/ and plugins/ folders.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ["cb.config.project", "cb.config.schemagen", "cb.cli.validate"]
for optional in ("cb.plan", "cb.state", "cb.providers.registry", "cb.cli.plan", "cb.cli.apply"):
    if (ROOT / optional.replace(".", "/")).with_suffix(".py").exists() or (ROOT / optional.replace(".", "/")).is_dir():
        CORE.append(optional)


def test_core_imports_no_call_path_module():
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in CORE)
        + "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'pipecat' or m.startswith(('cb.runner', 'cb.plugins')))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"the core imported: {out}"


def test_import_linter_contract_holds():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is a dev dependency: pip install -e '.[dev]'"
    proc = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
