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
