"""`cb runner --watch DIR` as a real process: valid edits become revisions (source watch, the OS
user), invalid ones are refused and reported while the last good revision keeps serving."""

from __future__ import annotations

import getpass
import time

import pytest

from cb.client import RunnerClient

from tests.support.control import start_runner


def wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.mark.slow
def test_watch_applies_valid_edits_and_refuses_invalid_ones(tmp_path, project):
    r = start_runner(tmp_path / "state", "--watch", str(project.root))
    try:
        client = RunnerClient(r.url)
        wait_for(lambda: client.state()["serial"] == 1)
        rev = client.history("agent.front-desk")[-1]
        assert rev["source"] == "watch" and rev["applied_by"].startswith(getpass.getuser() + "@")
        assert rev["cause"]["commit"] and rev["cause"]["message"].startswith("edited on the runner host")

        project.write_agent("front-desk", "Edited live")
        wait_for(lambda: client.state()["serial"] == 2)
        assert client.contents(["agent.front-desk"])["agent.front-desk"]["spec"]["greeting"] == "Edited live"

        (project.root / "agents" / "front-desk.yaml").write_text(
            "apiVersion: cb/v1\nkind: Agent\nmetadata: {name: front-desk}\nspec: {instructions: hi, tools: [nope]}\n")
        status = wait_for(lambda: (w := client._call("GET", "/v1/watch")["watch"]) and not w["ok"] and w)
        assert any("front-desk.yaml" in p for p in status["problems"])
        assert client.state()["serial"] == 2  # the last good revision keeps serving
        assert client.contents(["agent.front-desk"])["agent.front-desk"]["spec"]["greeting"] == "Edited live"
    finally:
        r.stop()
