"""`cb plan/apply/...` against a real runner process: exit codes, locks, drift, --locked, auth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cb.client import RunnerClient

from tests.support.control import start_runner

CB = [sys.executable, "-c", "from cb.cli import main; main()"]


def test_detailed_exit_codes_and_idempotent_apply(project, cb):
    assert cb("plan", "--detailed-exitcode").exit_code == 2
    res = cb("apply", "--auto-approve")
    assert res.exit_code == 0 and "agent.front-desk: created" in res.output and "state serial 1" in res.output
    res = cb("plan", "--detailed-exitcode")
    assert res.exit_code == 0 and "No changes" in res.output
    res = cb("apply", "--auto-approve")
    assert res.exit_code == 0 and "Apply complete" not in res.output


def test_invalid_config_is_never_planned(project, cb, runner):
    (project.root / "agents" / "front-desk.yaml").write_text(
        "apiVersion: cb/v1\nkind: Agent\nmetadata: {name: front-desk}\nspec:\n  instructions: hi\n  voise: joe\n")
    res = cb("apply", "--auto-approve")
    assert res.exit_code == 1
    assert "agents/front-desk.yaml:6" in res.output and "nothing was planned" in res.output
    assert RunnerClient(runner.url).state()["serial"] == 0


def test_a_plan_made_against_empty_state_applies_once(project, cb):
    assert cb("plan", "--out", "first.cbplan").exit_code == 0
    assert cb("apply", "first.cbplan").exit_code == 0
    res = cb("apply", "first.cbplan")
    assert res.exit_code == 1 and "stale" in res.output and "serial 0" in res.output


def test_apply_asks_before_changing_anything(project, cb, runner):
    res = cb("apply")
    assert res.exit_code == 1 and "--auto-approve" in res.output
    assert RunnerClient(runner.url).state()["serial"] == 0


def test_lock_held_fails_at_once_and_force_unlock_releases_it(project, cb, runner):
    lock = RunnerClient(runner.url).lock("pipeline-42@ci", "apply test-fleet")
    res = cb("apply", "--auto-approve")
    assert res.exit_code == 1
    for part in ("pipeline-42@ci", "apply test-fleet", lock["created_at"], f"cb force-unlock {lock['id']}"):
        assert part in res.output
    assert RunnerClient(runner.url).state()["serial"] == 0
    res = cb("force-unlock", lock["id"])
    assert res.exit_code == 0
    assert cb("force-unlock", lock["id"]).exit_code == 1  # nothing left to release
    assert cb("apply", "--auto-approve").exit_code == 0


@pytest.mark.slow
def test_two_applies_started_together_exactly_one_wins(project, cb, runner):
    assert cb("apply", "--auto-approve").exit_code == 0
    project.write_agent("front-desk", "Version A")
    assert cb("plan", "--out", str(project.root.parent / "a.cbplan")).exit_code == 0
    project.write_agent("front-desk", "Version B")
    project.write_agent("extra", "B also adds this")
    assert cb("plan", "--out", str(project.root.parent / "b.cbplan")).exit_code == 0
    env = {**os.environ, "CB_RUNNER_URL": runner.url}
    procs = [subprocess.Popen([*CB, "apply", str(project.root.parent / f"{n}.cbplan")], env=env, cwd=project.root,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for n in "ab"]
    outs = [(p.wait(60), p.stdout.read()) for p in procs]
    codes = sorted(code for code, _ in outs)
    assert codes == [0, 1], outs
    loser = next(out for code, out in outs if code == 1)
    assert "locked by" in loser or "stale" in loser
    state = RunnerClient(runner.url).state()
    assert state["serial"] == 2 and state["lock"] is None
    revisions = RunnerClient(runner.url).history()
    last = [r for r in revisions if r["serial"] == 2]
    winner_b = any(r["address"] == "agent.extra" for r in last)
    assert {r["address"] for r in last} == ({"agent.front-desk", "agent.extra"} if winner_b else {"agent.front-desk"})


def test_locked_fails_when_config_no_longer_matches_cb_lock(project, cb):
    assert cb("plan").exit_code == 0
    lock = json.loads((project.root / "cb.lock").read_text())
    assert set(lock["resources"]) == {"agent.front-desk", "tool.lookup", "return_schema.outcome", "number.main"}
    assert lock["plugins"]["cb"] and lock["schemas"]["cb/v1"]
    assert cb("plan", "--locked").exit_code == 0
    project.write_agent("front-desk", "Changed without updating cb.lock")
    res = cb("plan", "--locked")
    assert res.exit_code == 1 and "resources.agent.front-desk changed" in res.output
    assert cb("apply", "--locked", "--auto-approve").exit_code == 1
    project.write_agent("front-desk", "Hello!")
    assert cb("plan", "--out", "ok.cbplan").exit_code == 0
    assert cb("apply", "--locked", "ok.cbplan").exit_code == 0
    project.write_agent("front-desk", "Sneaky")
    stash = (project.root / "cb.lock").read_text()
    assert cb("plan", "--out", "sneaky.cbplan").exit_code == 0  # rewrites cb.lock ...
    (project.root / "cb.lock").write_text(stash)  # ... but the committed one is what CI has
    res = cb("apply", "--locked", "sneaky.cbplan")
    assert res.exit_code == 1 and "agent.front-desk" in res.output and "cb.lock" in res.output
    project.write_agent("front-desk", "Changed without updating cb.lock")
    before = (project.root / "cb.lock").read_text()
    assert cb("plan").exit_code == 0 and (project.root / "cb.lock").read_text() != before


def test_moved_renames_without_destroying(project, cb, runner):
    assert cb("apply", "--auto-approve").exit_code == 0
    (project.root / "agents" / "front-desk.yaml").unlink()
    project.write_agent("lobby", "Hello!")
    shared = (project.root / "agents" / "shared.yaml")
    shared.write_text(shared.read_text().replace("agent: front-desk", "agent: lobby"))
    with open(project.root / "cb.yaml", "a") as fh:
        fh.write("moved:\n  - {from: agent.front-desk, to: agent.lobby}\n")
    res = cb("plan")
    assert "agent.lobby (from agent.front-desk)  move" in res.output and "delete" not in res.output.split("Plan:")[0]
    assert cb("apply", "--auto-approve").exit_code == 0
    history = cb("history", "agent.lobby").output
    assert "agent.front-desk  create" in history and "agent.lobby (from agent.front-desk)  move" in history


def test_drift_from_watch_is_shown_and_only_reverted_on_request(project, cb, runner):
    assert cb("apply", "--auto-approve").exit_code == 0
    client = RunnerClient(runner.url)
    live = client.contents(["agent.front-desk"])["agent.front-desk"]
    live["spec"]["greeting"] = "Edited on the runner host"
    state = client.state()
    events = list(client.apply({"source": "watch", "applied_by": "ops@host", "serial": state["serial"],
                                "cause": {"message": "urgent fix"},
                                "changes": [{"address": "agent.front-desk", "kind": "Agent", "name": "front-desk",
                                             "action": "update", "content": live}]}))
    assert events[-1]["result"]["ok"]
    res = cb("plan", "--detailed-exitcode")
    assert res.exit_code == 2
    assert "drift: changed via watch by ops@host" in res.output and "urgent fix" in res.output
    assert cb("apply", "--auto-approve").exit_code == 0  # nothing else to do: the drift is held back
    assert client.contents(["agent.front-desk"])["agent.front-desk"]["spec"]["greeting"] == "Edited on the runner host"
    assert cb("apply", "--auto-approve", "--overwrite-drift").exit_code == 0
    assert client.contents(["agent.front-desk"])["agent.front-desk"]["spec"]["greeting"] == "Hello!"
    assert cb("plan", "--detailed-exitcode").exit_code == 0


def test_history_diff_and_errors_name_what_to_do(project, cb):
    assert cb("apply", "--auto-approve", "-m", "first").exit_code == 0
    project.write_agent("front-desk", "Second")
    assert cb("apply", "--auto-approve", "-m", "second").exit_code == 0
    res = cb("diff", "agent.front-desk@1", "agent.front-desk@2")
    assert res.exit_code == 2 and 'spec.greeting: "Hello!" -> "Second"' in res.output
    assert cb("diff", "agent.front-desk@2", "agent.front-desk@live").exit_code == 0
    res = cb("diff", "agent.nobody@1", "agent.front-desk@2")
    assert res.exit_code == 1 and "cb history" in res.output
    assert cb("diff", "agent.front-desk", "agent.front-desk@2").exit_code == 2  # a usage error (issue 11)
    hist = json.loads(cb("history", "agent.front-desk", "--format", "json").output)["revisions"]
    assert [r["cause"]["message"] for r in hist] == ["first", "second"]
    assert all(r["applied_by"] == "ci-bot" for r in hist)
    tool = json.loads(cb("history", "tool.lookup", "--format", "json").output)["revisions"]
    assert tool and "content" not in tool[0]


def test_unreachable_runner_is_a_clear_user_error(project, monkeypatch, cb):
    monkeypatch.setenv("CB_RUNNER_URL", "http://127.0.0.1:9")
    res = cb("plan")
    assert res.exit_code == 1 and "cannot reach the runner" in res.output and "cb runner" in res.output


@pytest.mark.slow
def test_token_auth_and_loopback_rule(tmp_path, project, monkeypatch):
    from click.testing import CliRunner

    from cb.cli import cli

    secured = start_runner(tmp_path / "secured", env={"CB_TOKEN": "s3cret-token"})
    try:
        monkeypatch.setenv("CB_RUNNER_URL", secured.url)
        monkeypatch.delenv("CB_TOKEN", raising=False)
        res = CliRunner().invoke(cli, ["plan"])
        assert res.exit_code == 1 and "token" in res.output
        token_file = tmp_path / "token"
        token_file.write_text("s3cret-token\n")
        res = CliRunner().invoke(cli, ["plan", "--token-file", str(token_file)])
        assert res.exit_code == 0, res.output
        monkeypatch.setenv("CB_TOKEN", "s3cret-token")
        assert CliRunner().invoke(cli, ["history"]).exit_code == 0
    finally:
        secured.stop()
    monkeypatch.delenv("CB_TOKEN", raising=False)
    out = subprocess.run([*CB, "runner", "--host", "0.0.0.0", "--port", "1", "--state", str(tmp_path / "s")],
                         capture_output=True, text=True, timeout=60, env={k: v for k, v in os.environ.items() if k != "CB_TOKEN"})
    assert out.returncode == 1 and "refusing to listen on 0.0.0.0 without a token" in out.stderr
    assert not Path(tmp_path / "s" / "state.db").exists()


def test_a_targeted_apply_changes_one_agent_and_deletes_nothing(project, cb, runner):
    assert cb("apply", "--auto-approve").exit_code == 0
    project.write_agent("front-desk", "Only this one")
    project.write_agent("sales", "Not yet")
    (project.root / "agents" / "shared.yaml").write_text(
        (project.root / "agents" / "shared.yaml").read_text().replace("Look something up.", "Look it up."))
    res = cb("plan", "agents/front-desk.yaml")
    assert res.exit_code == 0 and "Targeted" in res.output
    assert "agent.front-desk  update" in res.output and "sales" not in res.output and "tool.lookup" not in res.output
    res = cb("apply", "--auto-approve", "--paths", "agents/front-desk.yaml")
    assert res.exit_code == 0 and "1 changed" in res.output
    state = RunnerClient(runner.url).state()
    assert "agent.sales" not in state["resources"] and "tool.lookup" in state["resources"]
    assert cb("plan", "agents/nope.yaml").exit_code == 1


def test_a_targeted_apply_cannot_leave_a_dangling_reference(project, cb, runner):
    assert cb("apply", "--auto-approve").exit_code == 0
    (project.root / "agents" / "front-desk.yaml").write_text(
        (project.root / "agents" / "front-desk.yaml").read_text().replace("tools: [lookup, end_call]", "tools: [lookup, refund]"))
    (project.root / "agents" / "refund.yaml").write_text(
        "apiVersion: cb/v1\nkind: Tool\nmetadata: {name: refund}\nspec:\n  description: Refund.\n"
        "  http: {url: 'http://127.0.0.1:9/refund'}\n")
    res = cb("apply", "--auto-approve", "--paths", "agents/front-desk.yaml")
    assert res.exit_code == 1
    assert "agent.front-desk: spec.tools refers to tool.refund, which would not be live" in res.output
    assert RunnerClient(runner.url).state()["serial"] == 1
    res = cb("apply", "--auto-approve", "--paths", "agents/front-desk.yaml", "--paths", "agents/refund.yaml")
    assert res.exit_code == 0, res.output


def test_the_runner_refuses_to_start_on_a_lead_that_is_not_a_number(tmp_path):
    out = subprocess.run([*CB, "runner", "--port", "1", "--state", str(tmp_path / "s")], capture_output=True,
                         text=True, timeout=60, env={**os.environ, "CB_AUDIO_LEAD_MS": "60ms"})
    assert out.returncode == 1 and "CB_AUDIO_LEAD_MS='60ms' is not a lead in milliseconds" in out.stderr
    assert not (tmp_path / "s" / "state.db").exists()
