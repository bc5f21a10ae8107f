"""``cb validate`` refuses a do-not-call file the runner could not read, at its file:line; an empty
window and a limit of zero were already refused by the models (checked here beside it)."""

from __future__ import annotations

from pathlib import Path

from cb.config.project import load_project

POLICY = """\
apiVersion: cb/v1
kind: CompliancePolicy
metadata: {{name: us}}
spec:
  do_not_call:
    - {{type: numbers, numbers: ["+14155550199"]}}
    - {{type: file, path: {path}}}
{extra}"""


def problems(tmp_path: Path, path: str, extra: str = "") -> list[str]:
    (tmp_path / "agents").mkdir(exist_ok=True)
    (tmp_path / "agents" / "p.yaml").write_text(POLICY.format(path=path, extra=extra))
    (tmp_path / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: t\n")
    _, diags = load_project(None, cwd=tmp_path)
    return [f"{d.file}:{d.line} {d.message}" for d in diags if d.severity == "error"]


def test_an_unreadable_do_not_call_file_is_an_error_at_its_line(tmp_path):
    found = problems(tmp_path, "lists/dnc.csv")
    assert len(found) == 1 and found[0].startswith("agents/p.yaml:7 do_not_call[1].path: 'lists/dnc.csv' cannot be read")
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "dnc.csv").write_text("+14155550198\n")
    assert problems(tmp_path, "lists/dnc.csv") == []


def test_an_empty_window_and_a_zero_limit_are_refused(tmp_path):
    (tmp_path / "dnc.csv").write_text("")
    found = problems(tmp_path, "dnc.csv", '  calling_windows: [{days: [mon], start: "17:00", end: "09:00"}]\n'
                     "  attempts: {max_per_number: 3, max_per_day: 0}\n")
    assert any("empty" in f for f in found) and any("max_per_day" in f for f in found), found


def test_a_list_line_that_starts_like_a_number_but_is_not_e164_is_an_error(tmp_path):
    (tmp_path / "dnc.csv").write_text("number\n+14155550198\n+1 415 555 0199\n")
    found = problems(tmp_path, "dnc.csv")
    assert found == ["agents/p.yaml:7 do_not_call[1].path: dnc.csv:3: '+1 415 555 0199' is not an E.164 number"]
