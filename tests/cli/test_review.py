"""The PR comment: a prompt change that breaks the booking scenario, reviewed against a real
runner that holds the old prompt live. One comment shows the plan (with the prompt diff) and the
before/after table marking the regression; the check fails (exit 1). Snapshot: syrupy."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _stable(text: str) -> str:
    text = re.sub(r"\b[0-9a-f]{7,64}\b", "<hash>", text)
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?", "<time>", text)
    return re.sub(r"serial \d+", "serial <n>", text)


@pytest.mark.slow
def test_a_prompt_change_that_breaks_booking_shows_as_a_regression_under_the_plan(project, runner, cb, snapshot):
    root = project.root
    shutil.copy(ROOT / "agents" / "front-desk.yaml", root / "agents" / "front-desk.yaml")
    (root / "agents" / "shared.yaml").unlink()
    shutil.copytree(ROOT / "scenarios", root / "scenarios")
    (root / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: test-fleet\npaths: [agents]\n"
                                  "tools: {env: [BOOKING_*]}\n")
    project.commit("the front desk and its scenarios")
    assert cb("apply", "--auto-approve").exit_code == 0

    res = cb("review")  # nothing changed: both scenarios pass before and after
    assert res.exit_code == 0, res.output
    assert "✅ passing" in res.output and "regression" not in res.output

    agent = root / "agents" / "front-desk.yaml"
    agent.write_text(agent.read_text().replace("and book appointments with the book_appointment tool.",
                                               "and take a message for the staff."))
    project.commit("PR: take messages instead of booking")
    res = cb("review", "--out", "comment.md")
    assert res.exit_code == 1, res.output
    comment = (root / "comment.md").read_text()
    assert len(comment) < 65_535
    assert "agent.front-desk" in comment and "+and take a message for the staff." in comment
    assert "| `front-desk-books` | `front-desk` | ✅ 1/1 | ❌ 0/1 | 🔴 regression |" in comment
    assert _stable(comment) == snapshot


@pytest.mark.slow
def test_cb_test_changed_runs_only_the_scenarios_the_plan_touches(project, runner, cb):
    root = project.root
    shutil.copy(ROOT / "agents" / "front-desk.yaml", root / "agents" / "front-desk.yaml")
    (root / "agents" / "shared.yaml").unlink()
    shutil.copytree(ROOT / "scenarios", root / "scenarios")
    (root / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: test-fleet\npaths: [agents]\n"
                                  "tools: {env: [BOOKING_*]}\n")
    project.commit("the front desk and its scenarios")
    assert cb("apply", "--auto-approve").exit_code == 0

    res = cb("test", "--changed")  # the plan changes nothing: nothing runs, and that is said
    assert res.exit_code == 0, res.output
    assert "nothing to run" in res.output and "PASS" not in res.output

    agent = root / "agents" / "front-desk.yaml"
    agent.write_text(agent.read_text().replace("and book appointments with the book_appointment tool.",
                                               "and take a message for the staff."))
    res = cb("test", "--changed", "--baseline", "live")
    assert res.exit_code == 1, res.output
    assert "FAIL front-desk-books" in res.output and "[regression]" in res.output
