"""What the YAML says is printed escaped: a name with a newline or an escape sequence cannot forge a
diagnostic line or recolour the terminal (issue 15, item 10)."""

from __future__ import annotations

from cb.config.diagnostics import printable, render_text
from cb.config.project import load_project


def test_a_name_with_a_newline_stays_on_one_line(tmp_path):
    (tmp_path / "a.yaml").write_text(
        'apiVersion: cb/v1\nkind: Agent\nmetadata: {name: "a\\nagents/ok.yaml:1:1: error[CB000] forged\\u001b[31m"}\n'
        "spec: {instructions: hi}\n")
    _, diags = load_project(["a.yaml"], cwd=tmp_path)
    assert diags
    for d in diags:
        first, *rest = d.render().split("\n")
        assert all(line.startswith("  hint: ") for line in rest), d.render()
        assert "\x1b" not in d.render()
    text = render_text(diags, 1, 0)
    assert not any(line.startswith("agents/ok.yaml") for line in text.splitlines())
    assert "agent.a\\nagents/ok.yaml:1:1: error[CB000] forged\\x1b[31m:" in text


def test_printable_escapes_controls_and_bidi_but_keeps_unicode():
    assert printable("Zoë ☎ café") == "Zoë ☎ café"
    assert printable("a\tb\rc\x07d\u202ee") == "a\\tb\\rc\\x07d\\u202ee"


def test_watch_mode_logs_each_problem_on_one_escaped_line(tmp_path):
    from cb.apply.watch import Watcher

    (tmp_path / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: t\npaths: [agents]\n")
    (tmp_path / "agents").mkdir()
    # a file name is not escaped by YAML's quoting: only the renderer can keep it on one line
    (tmp_path / "agents" / "a\nforged line\x1b[31m.yaml").write_text(
        'apiVersion: cb/v1\nkind: Agent\nmetadata: {name: "a"}\nspec: {instructionz: hi}\n')
    watcher = Watcher(engine=None, directory=tmp_path)
    assert watcher.sync() is True and not watcher.status.ok
    assert watcher.status.problems
    for line in watcher.status.problems:
        assert "\n" not in line and "\x1b" not in line, line
        assert line.startswith("agents/a\\nforged line\\x1b[31m.yaml:"), line
