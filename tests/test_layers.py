"""Layers are enforced, not hoped for: every import of cb/, runner/ and plugins/ keeps to its wall.

The reading and the rules live in tests/layering.py (``python tests/layering.py`` prints what it
finds). The real tree must be clean; each rule is proven to fire by planting a violation in a
small tree of the same shape.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import layering

ROOT = Path(__file__).resolve().parents[1]


def test_the_tree_keeps_its_layers():
    problems = layering.check(ROOT)
    assert not problems, "layering violations:\n" + "\n".join(problems)


def test_the_mapped_trees_are_read_under_their_installed_names():
    found = layering.modules(ROOT)
    assert found["cb.runner.app"] == ROOT / "runner" / "app.py"
    assert found["cb.plugins.local.vad"] == ROOT / "plugins" / "local" / "vad.py"
    assert found["cb.providers"] == ROOT / "cb" / "providers" / "__init__.py"


TREE = ["cb/__init__.py", "cb/config/__init__.py", "cb/config/models.py", "cb/plan/__init__.py",
        "cb/providers/__init__.py", "cb/contracts/__init__.py", "cb/state/__init__.py", "cb/cli/__init__.py",
        "cb/cli/demo.py", "runner/__init__.py", "runner/app.py", "runner/calls/__init__.py",
        "plugins/__init__.py", "plugins/local/__init__.py", "plugins/local/vad.py"]


def planted(tmp_path: Path, file: str, code: str) -> list[str]:
    for name in TREE:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    (tmp_path / file).write_text(code)
    return layering.check(tmp_path)


def test_a_clean_planted_tree_passes(tmp_path):
    assert planted(tmp_path, "runner/app.py", "from cb.config import models\nfrom cb.providers import PartSpec\n") == []


@pytest.mark.parametrize("file, code, rule", [
    ("cb/plan/__init__.py", "from cb.runner import app\n", "core -> runner"),
    ("cb/plan/__init__.py", "import cb.cli.demo\n", "core -> cli"),
    ("cb/plan/__init__.py", "from cb.plugins.local import vad\n", "core -> plugins"),
    ("cb/config/models.py", "from pipecat.frames.frames import Frame\n", "core -> pipecat"),
    ("plugins/local/vad.py", "from cb.runner.calls import signing\n", "plugins -> runner"),
    ("plugins/local/vad.py", "from cb.cli import demo\n", "plugins -> cli"),
    ("plugins/local/vad.py", "from cb.state import store\n", "plugins -> core beyond the plugin API"),
    ("runner/app.py", "from cb.cli.demo import run\n", "runner -> cli"),
    ("runner/app.py", "from cb.plugins.local.vad import provider\n", "runner -> plugins"),
])
def test_each_rule_fires_on_a_planted_violation(tmp_path, file, code, rule):
    problems = planted(tmp_path, file, code)
    assert any(f"{file}:1: " in p and f"-- {rule}" in p for p in problems), problems


def test_a_lazy_import_inside_a_function_counts(tmp_path):
    problems = planted(tmp_path, "cb/config/models.py",
                       '"""Models."""\n\n\ndef load():\n    from ..plugins.local import vad\n    return vad\n')
    assert problems[0] == ("cb/config/models.py:5: cb.config.models imports cb.plugins.local.vad (lazy import)"
                           " -- core -> plugins: the core never depends on the plugins")


def test_a_module_named_in_a_string_counts(tmp_path):
    problems = planted(tmp_path, "cb/config/models.py", 'PAYLOAD = "cb.runner.app:Payload"\n')
    assert problems[0].startswith("cb/config/models.py:1: cb.config.models imports cb.runner.app (string) -- core -> runner")


def test_importlib_counts(tmp_path):
    problems = planted(tmp_path, "plugins/local/vad.py", 'import importlib\nimportlib.import_module("cb.runner.app")\n')
    assert any(p.startswith("plugins/local/vad.py:2: cb.plugins.local.vad imports cb.runner.app (importlib)")
               for p in problems), problems


def test_a_cycle_between_layers_is_named(tmp_path):
    problems = planted(tmp_path, "cb/plan/__init__.py", "from cb.runner import app\n")
    (tmp_path / "runner/app.py").write_text("from cb import plan\n")
    problems = layering.check(tmp_path)
    assert any(p.startswith("cycle core -> runner -> core: cb/plan/__init__.py:1:") for p in problems), problems


def test_docstrings_logger_names_and_entry_point_groups_are_not_imports(tmp_path):
    code = ('"""Unlike cb.runner.app, this ..."""\nimport logging\nlog = logging.getLogger("cb.runner")\n'
            'GROUP = "cb.pipeline_providers"\n')
    assert planted(tmp_path, "cb/plan/__init__.py", code) == []
