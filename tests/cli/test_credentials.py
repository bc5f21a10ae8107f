"""Issue 11 item 9: an agent on Deepgram, Groq and Cartesia with no keys on the runner is found
out by `cb plan` (names only, exit 1, with the fix) and by /readyz, not by the first caller.

A real runner process each time: the keys are the runner's environment, read when it starts."""

from __future__ import annotations

import time

import httpx

from cb.client import RunnerClient
from tests.support.control import make_cb, start_runner

CLOUD_AGENT = """\
apiVersion: cb/v1
kind: Agent
metadata: {name: cloud-desk}
spec:
  instructions: You are the cloud desk.
  greeting: Hello from the cloud.
  voice: test-voice-id
  pipeline:
    stt: {provider: deepgram, model: nova-3}
    llm: {provider: groq, model: llama-3.3-70b-versatile}
    tts: {provider: cartesia, model: sonic-2}
"""
KEYS = ("DEEPGRAM_API_KEY", "GROQ_API_KEY", "CARTESIA_API_KEY")
NO_KEYS = {**{k: "" for k in KEYS}, "CB_PROFILE": "scripted", "HF_HUB_OFFLINE": "1"}
WITH_KEYS = {**{k: f"test-{k.lower()}" for k in KEYS}, "CB_PROFILE": "scripted", "HF_HUB_OFFLINE": "1"}


def warm_readyz(url: str) -> httpx.Response:
    deadline = time.monotonic() + 90
    while True:
        res = httpx.get(url + "/readyz", timeout=5)
        if not res.json()["reason"].startswith("starting") or time.monotonic() > deadline:
            return res
        time.sleep(0.2)


def test_keys_a_runner_lacks_fail_the_plan_and_show_in_readyz(project, tmp_path, monkeypatch):
    (project.root / "agents" / "cloud-desk.yaml").write_text(CLOUD_AGENT)
    state = tmp_path / "state"
    runner = start_runner(state, env=NO_KEYS)
    try:
        cb = make_cb(runner.url, monkeypatch)
        res = cb("plan")
        assert res.exit_code == 1, res.output
        [line] = [line for line in res.output.splitlines() if "agent.cloud-desk" in line]
        assert all(k in line for k in KEYS) and "export DEEPGRAM_API_KEY and GROQ_API_KEY and CARTESIA_API_KEY " \
            "on the runner and restart it" in line
        assert "agent.front-desk" not in res.output  # the scripted profile needs no key
        assert cb("apply", "--auto-approve").exit_code == 1
        assert RunnerClient(runner.url).state()["serial"] == 0  # nothing applied
        found = RunnerClient(runner.url).credentials({"agent.x": {"stt": {"provider": "deepgram"}}})
        assert found == {"agent.x": {"needs": ["DEEPGRAM_API_KEY"], "missing": ["DEEPGRAM_API_KEY"]}}
    finally:
        runner.stop()

    runner = start_runner(state, env=WITH_KEYS)
    try:
        res = make_cb(runner.url, monkeypatch)("apply", "--auto-approve")
        assert res.exit_code == 0, res.output
        assert "test-deepgram" not in res.output  # names, never values
    finally:
        runner.stop()

    # The same fleet on a runner restarted without the keys: the local agent can still take calls.
    runner = start_runner(state, env=NO_KEYS)
    try:
        res = warm_readyz(runner.url)
        assert res.status_code == 200, res.text
        assert res.json()["agents_missing_env"] == {"agent.cloud-desk": list(KEYS)}
    finally:
        runner.stop()

    # A runner whose default profile is cloud: no live agent can take a call, so it is not ready.
    runner = start_runner(state, env={**NO_KEYS, "CB_PROFILE": "cloud"})
    try:
        res = warm_readyz(runner.url)
        assert res.status_code == 503, res.text
        body = res.json()
        assert set(body["agents_missing_env"]) == {"agent.cloud-desk", "agent.front-desk"}
        assert "no agent can take a call" in body["reason"] and "DEEPGRAM_API_KEY" in body["reason"]
    finally:
        runner.stop()
