"""`cb call --local` refuses clearly, before placing anything, when it cannot place the call."""

from __future__ import annotations

from click.testing import CliRunner

from cb.cli import cli
from cb.contracts.voice_webhook_auth import local_token

from tests.e2e.harness import free_port


def run(*args: str):
    return CliRunner().invoke(cli, ["call", *args])


def test_nothing_to_say(tmp_path):
    res = run("front-desk", "--local", "--state", str(tmp_path))
    assert res.exit_code == 1 and "nothing to say: give --say TEXT (repeatable) or --scenario FILE" in res.output


def test_a_bad_scenario_names_the_line_and_the_fix(tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text("lines:\n  - say: hello\n  - sey: typo\n")
    res = run("front-desk", "--local", "--scenario", str(scenario))
    assert res.exit_code == 1 and "s.yaml: lines[1] needs `say: TEXT`" in res.output


def test_no_local_token_means_no_runner_on_that_state_folder(tmp_path):
    res = run("front-desk", "--local", "--say", "hi", "--state", str(tmp_path))
    assert res.exit_code == 1 and f"no local webhook token in {tmp_path}" in res.output


def test_no_runner_listening(tmp_path):
    local_token(tmp_path)  # as if a runner had used this folder once
    res = run("front-desk", "--local", "--say", "hi", "--state", str(tmp_path),
              "--runner", f"http://127.0.0.1:{free_port()}")
    assert res.exit_code == 1 and "no runner answers at http://127.0.0.1:" in res.output
    assert "start one with `cb runner`" in res.output


def test_local_is_required_for_now():
    res = run("front-desk", "--say", "hi")
    assert res.exit_code == 2 and "--local" in res.output


def test_a_local_call_dials_the_number_its_agent_answers(tmp_path):
    from cb.plugins.local.localcall import number_of

    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "a.yaml").write_text(
        "apiVersion: cb/v1\nkind: Agent\nmetadata: {name: front-desk}\nspec: {instructions: hi}\n---\n"
        "apiVersion: cb/v1\nkind: Number\nmetadata: {name: main}\nspec: {number: '+14155550100', agent: front-desk}\n")
    assert number_of("front-desk", tmp_path) == "+14155550100"
    assert number_of("sales", tmp_path) is None
