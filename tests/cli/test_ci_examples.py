"""The CI conventions shipped for users, exercised: the GitHub Actions workflow example's steps run
as a script against a real runner (a passing PR, its merge and apply, then a PR with a
regression), and the pre-commit hook's entry validates a project."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.control import git

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "docs" / "ci" / "cb-pull-request.yml"


def _bin(tmp: Path) -> Path:
    """pip (cb is installed already) and gh (records the comment) as stand-ins on PATH."""
    folder = tmp / "bin"
    folder.mkdir()
    (folder / "pip").write_text("#!/bin/sh\necho \"pip $*\" >> \"$FAKE_LOG\"\n")
    (folder / "gh").write_text("#!/bin/sh\necho \"gh $*\" >> \"$FAKE_LOG\"\n"
                               "while [ $# -gt 0 ]; do [ \"$1\" = --body-file ] && cp \"$2\" \"$FAKE_COMMENT\"; shift; done\n")
    for f in folder.iterdir():
        f.chmod(0o755)
    return folder


def run_job(job: str, cwd: Path, context: dict[str, str], env: dict[str, str]) -> tuple[bool, list[str]]:
    """The job's steps in order, as Actions runs them: after a failure only `if: always()` steps run."""
    spec = yaml.safe_load(WORKFLOW.read_text())["jobs"][job]
    failed, ran = False, []

    def expand(text: str) -> str:
        return re.sub(r"\$\{\{\s*([^}]+?)\s*\}\}", lambda m: context[m.group(1)], text)

    for step in spec["steps"]:
        if "uses" in step or (failed and step.get("if") != "always()"):
            continue
        step_env = {**env, **{k: expand(str(v)) for k, v in {**spec.get("env", {}), **step.get("env", {})}.items()}}
        proc = subprocess.run(["bash", "-e", "-c", expand(step["run"])], cwd=cwd, env=step_env,
                              capture_output=True, text=True, timeout=300)
        ran.append(f"{step['name']}: {proc.returncode}")
        failed = failed or proc.returncode != 0
    return not failed, ran


@pytest.mark.slow
def test_the_github_actions_example_runs_end_to_end(project, runner, tmp_path):
    root = project.root
    shutil.copy(ROOT / "agents" / "front-desk.yaml", root / "agents" / "front-desk.yaml")
    (root / "agents" / "shared.yaml").unlink()
    shutil.copytree(ROOT / "scenarios", root / "scenarios")
    (root / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: ci-fleet\npaths: [agents]\n"
                                  "tools: {env: [BOOKING_*]}\n")
    project.commit("the front desk and its scenarios")
    env = {**os.environ, "PATH": f"{_bin(tmp_path)}:{Path(sys.executable).parent}:{os.environ['PATH']}",
           "FAKE_LOG": str(tmp_path / "fake.log"), "FAKE_COMMENT": str(tmp_path / "comment.md"), "CB_APPLIED_BY": "ci"}
    context = {"secrets.CB_RUNNER_URL": runner.url, "secrets.CB_TOKEN": "", "github.token": "gh-token",
               "github.event.pull_request.number": "7", "github.event.head_commit.message": "Merge the PR"}

    ok, steps = run_job("apply", root, context, env)  # the first push to main applies the fleet
    assert ok, steps

    git(root, "checkout", "-q", "-b", "friendlier")
    agent = root / "agents" / "front-desk.yaml"
    agent.write_text(agent.read_text().replace("How can I help", "How may I help you today"))
    project.commit("PR: a friendlier greeting")
    ok, steps = run_job("review", root, context, env)
    assert ok, steps
    comment = (tmp_path / "comment.md").read_text()
    assert "How may I help you today" in comment and "✅ passing" in comment and "regression" not in comment
    assert 'gh pr comment 7 --body-file comment.md' in (tmp_path / "fake.log").read_text()
    assert (root / "cb-test.xml").is_file()

    git(root, "checkout", "-q", "main")
    git(root, "merge", "-q", "--no-ff", "-m", "Merge the PR", "friendlier")
    ok, steps = run_job("apply", root, context, env)
    assert ok, steps
    git(root, "checkout", "-q", "-b", "no-booking")
    agent.write_text(agent.read_text().replace("and book appointments with the book_appointment tool.",
                                               "and take a message for the staff."))
    project.commit("PR: take messages instead of booking")
    ok, steps = run_job("review", root, context, env)
    assert not ok, steps  # the check fails on the regression ...
    assert "Comment on the pull request: 0" in steps  # ... and the comment still says why
    comment = (tmp_path / "comment.md").read_text()
    assert "🔴 regression" in comment and "-and book appointments with the book_appointment tool." in comment


def test_the_pre_commit_hook_validates_the_project(tmp_path):
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "cb-validate")
    assert re.search(hook["files"], "agents/front-desk.yaml") and re.search(hook["files"], "scenarios/a.yml")
    assert hook["pass_filenames"] is False
    fleet = tmp_path / "fleet"
    shutil.copytree(ROOT / "agents", fleet / "agents")
    shutil.copytree(ROOT / "scenarios", fleet / "scenarios")
    shutil.copy(ROOT / "cb.yaml", fleet / "cb.yaml")
    entry = shlex.split(hook["entry"])
    assert entry[0] == "cb"
    command = [str(Path(sys.executable).parent / "cb"), *entry[1:]]
    assert subprocess.run(command, cwd=fleet, capture_output=True).returncode == 0
    books = fleet / "scenarios" / "front-desk" / "books.yaml"
    books.write_text(books.read_text().replace("agent: front-desk", "agent: front-dsk"))
    proc = subprocess.run(command, cwd=fleet, capture_output=True, text=True)
    assert proc.returncode == 1
    assert "scenarios/front-desk/books.yaml:10:10: error[CB301] scenario.front-desk-books: agent: no Agent named" in proc.stdout
