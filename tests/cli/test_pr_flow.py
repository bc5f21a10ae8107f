"""The issue's "Done when" scenario, end to end against a real runner process.

plan on a PR -> save -> another apply lands first -> the saved plan is refused -> re-plan -> apply
-> history shows both with their commits -> rollback -> audit verify passes, then fails after a
row is edited in the database.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.support.control import git


@pytest.mark.slow
def test_done_when_scenario(project, runner, cb):
    assert cb("apply", "--auto-approve").exit_code == 0
    base_serial = json.loads(cb("history", "--format", "json").output)["revisions"][-1]["serial"]

    # A pull request changes the greeting; CI plans it on the PR branch and saves the plan.
    git(project.root, "checkout", "-q", "-b", "pr-greeting")
    project.write_agent("front-desk", "Hi, PR greeting!")
    pr_commit = project.commit("PR: friendlier greeting")
    res = cb("plan", "--out", "pr.cbplan", "--detailed-exitcode")
    assert res.exit_code == 2, res.output
    assert '"Hello!" -> "Hi, PR greeting!"' in res.output

    # Meanwhile a hotfix on main (a second agent) is applied first.
    git(project.root, "checkout", "-q", "main")
    project.write_agent("sales", "Sales here.")
    hotfix_commit = project.commit("hotfix: add sales")
    res = cb("apply", "--auto-approve", "-m", "hotfix")
    assert res.exit_code == 0, res.output
    assert "agent.front-desk" not in res.output

    # The saved plan is now stale and is refused without changing anything.
    res = cb("apply", "pr.cbplan")
    assert res.exit_code == 1
    assert "saved plan is stale" in res.output and f"serial {base_serial}" in res.output

    # The PR is merged; CI re-plans and applies.
    git(project.root, "merge", "-q", "--no-ff", "-m", "Merge PR: friendlier greeting", "pr-greeting")
    merge_commit = git(project.root, "rev-parse", "HEAD")
    res = cb("plan", "--out", "pr2.cbplan")
    assert res.exit_code == 0 and "agent.sales" not in res.output
    assert cb("apply", "pr2.cbplan").exit_code == 0
    assert cb("plan", "--detailed-exitcode").exit_code == 0  # nothing left

    # History shows both changes with their commits.
    revisions = json.loads(cb("history", "--format", "json").output)["revisions"]
    commits = {r["address"]: r["cause"]["commit"] for r in revisions if r["serial"] > base_serial}
    assert commits["agent.sales"] == hotfix_commit
    assert commits["agent.front-desk"] == merge_commit, (commits, pr_commit, hotfix_commit, merge_commit)
    text = cb("history", "agent.front-desk").output
    assert merge_commit[:12] in text and "Ann Author" in text
    assert pr_commit != merge_commit

    # Roll the greeting back to what was live at the base serial.
    res = cb("rollback", "agent.front-desk", "--to", str(base_serial), "--auto-approve")
    assert res.exit_code == 0, res.output
    live = json.loads(cb("history", "agent.front-desk", "--format", "json").output)["revisions"][-1]
    assert live["source"] == "rollback"
    res = cb("diff", f"agent.front-desk@{base_serial}", "agent.front-desk@live")
    assert res.exit_code == 0 and "identical" in res.output

    # The audit passes ... then fails, naming the row, once a row is edited behind cb's back.
    res = cb("audit", "verify")
    assert res.exit_code == 0 and "chain intact" in res.output
    victim = next(r for r in revisions if r["address"] == "agent.sales")
    with sqlite3.connect(runner.state_dir / "state.db") as db:
        db.execute("UPDATE cb_revisions SET applied_by = 'mallory' WHERE id = ?", (victim["id"],))
    res = cb("audit", "verify")
    assert res.exit_code == 1
    assert f"r{victim['id']} (agent.sales)" in res.output and "edited" in res.output
    offline = cb("audit", "verify", "--state", str(runner.state_dir), "--format", "json")
    assert offline.exit_code == 1 and f'"broken_at": {victim["id"]}' in offline.output


@pytest.mark.slow
def test_pr_flow_hotfix_stale_plan_rollback_revert_next_change(project, runner, cb):
    """Issue 11's PR flow: drift clears once git matches live, and the next change in git lands."""
    from cb.client import RunnerClient

    client = RunnerClient(runner.url)
    assert cb("apply", "--auto-approve").exit_code == 0
    good_serial = client.state()["serial"]

    # A PR's plan is saved; a hotfix is applied directly first; the saved plan is now refused.
    project.write_agent("front-desk", "PR greeting")
    assert cb("plan", "--out", "pr.cbplan").exit_code == 0
    project.write_agent("front-desk", "Hotfix greeting")
    project.commit("hotfix greeting")
    assert cb("apply", "--auto-approve", "-m", "hotfix").exit_code == 0
    res = cb("apply", "pr.cbplan")
    assert res.exit_code == 1 and "saved plan is stale" in res.output
    assert client.contents(["agent.front-desk"])["agent.front-desk"]["spec"]["greeting"] == "Hotfix greeting"

    # The hotfix was bad: roll back. Git still says the hotfix, so the plan shows drift with its diff.
    assert cb("rollback", "agent.front-desk", "--to", str(good_serial), "--auto-approve").exit_code == 0
    res = cb("plan", "--detailed-exitcode")
    assert res.exit_code == 2 and "held back: drift" in res.output
    assert '"Hello!" -> "Hotfix greeting"' in res.output and "via rollback by ci-bot" in res.output

    # git revert makes git match live: the drift is gone and there is nothing to do.
    git(project.root, "revert", "--no-edit", "HEAD")
    res = cb("plan", "--detailed-exitcode")
    assert res.exit_code == 0, res.output
    assert "drift" not in res.output and "No changes" in res.output
    res = cb("apply", "--auto-approve")  # the merge pipeline's apply: git owns the live revision again
    assert res.exit_code == 0 and "Git now matches the live agent.front-desk" in res.output
    assert cb("plan", "--detailed-exitcode").exit_code == 0

    # The next change in git is planned, saved, applied, and is live.
    project.write_agent("front-desk", "Next change")
    project.commit("next change")
    res = cb("plan", "--out", "next.cbplan", "--detailed-exitcode")
    assert res.exit_code == 2 and '"Hello!" -> "Next change"' in res.output and "held back" not in res.output
    res = cb("apply", "next.cbplan")
    assert res.exit_code == 0 and "Apply complete: 1 changed" in res.output
    assert client.contents(["agent.front-desk"])["agent.front-desk"]["spec"]["greeting"] == "Next change"
    assert cb("plan", "--detailed-exitcode").exit_code == 0


@pytest.mark.slow
def test_a_saved_plan_of_only_held_back_changes_fails_and_says_why(project, runner, cb):
    from cb.client import RunnerClient

    assert cb("apply", "--auto-approve").exit_code == 0
    first = RunnerClient(runner.url).state()["serial"]
    project.write_agent("front-desk", "Second")
    project.commit("second")
    assert cb("apply", "--auto-approve").exit_code == 0
    assert cb("rollback", "agent.front-desk", "--to", str(first), "--auto-approve").exit_code == 0
    res = cb("plan", "--out", "held.cbplan", "--detailed-exitcode")
    assert res.exit_code == 2 and '"Hello!" -> "Second"' in res.output  # held back, with its diff
    res = cb("apply", "held.cbplan")
    assert res.exit_code == 1 and "held back by drift" in res.output and "agent.front-desk" in res.output
    assert "no changes; nothing to apply" not in res.output.lower()
    res = cb("apply", "--auto-approve")
    assert res.exit_code == 0 and "held back by drift" in res.output  # the closing line
