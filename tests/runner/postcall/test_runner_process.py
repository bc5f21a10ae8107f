"""The outcomes extension inside a real runner process: call media behind the token, and a runner
SIGKILLed mid-delivery that delivers after restart (the worker runs in-process there)."""

from __future__ import annotations

import os

import httpx
import pytest

from cb.runner.postcall.outcomes import call_dir

pytest.importorskip("pipecat", reason="the runner: pip install 'cb[runner]'")

from tests.e2e.harness import start_runner  # noqa: E402


def test_media_needs_the_token_and_serves_only_a_calls_own_files(tmp_path):
    project = tmp_path / "p"
    project.mkdir()
    (project / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: media\npaths: [agents]\n")
    state = tmp_path / "state"
    folder = call_dir(state, "call_abc")
    folder.mkdir(parents=True)
    (folder / "recording.wav").write_bytes(b"RIFF....WAVE")
    (folder / "transcript.json").write_text("[]")
    (state / "secret.txt").write_text("not for you")
    runner = start_runner(project, state, env={"CB_TOKEN": "t0ken"})
    try:
        url = f"{runner.url}/v1/calls/call_abc/recording.wav"
        assert httpx.get(url, timeout=10).status_code == 401
        ok = httpx.get(url, headers={"Authorization": "Bearer t0ken"}, timeout=10)
        assert ok.status_code == 200 and ok.content == b"RIFF....WAVE" and ok.headers["content-type"] == "audio/wav"
        auth = {"Authorization": "Bearer t0ken"}
        assert httpx.get(f"{runner.url}/v1/calls/call_abc/transcript.json", headers=auth, timeout=10).json() == []
        for bad in ("call_abc/secret.txt", "..%2Fsecret.txt/recording.wav", "call_nope/recording.wav"):
            assert httpx.get(f"{runner.url}/v1/calls/{bad}", headers=auth, timeout=10).status_code == 404, bad
    finally:
        runner.stop()


def test_a_runner_killed_with_sigkill_mid_delivery_delivers_after_restart(tmp_path, receiver):
    import signal

    from cb.contracts.webhook_payload import WebhookPayload
    from cb.contracts.webhook_signature import verify_signature
    from cb.runner.webhooks import Outbox

    hook = receiver(["stall", 200])
    project = tmp_path / "p"
    project.mkdir()
    (project / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: kill\npaths: [agents]\n")
    state = tmp_path / "state"
    box = Outbox.open(state)
    row_id = box.enqueue(call_id="call_k", url=hook.url, secret_ref="${env:HOOK_SECRET}", payload=WebhookPayload(
        call_id="call_k", agent="agent.front-desk", status="completed", duration_sec=3))
    env = {"HOOK_SECRET": "s3cret"}
    # Not waiting for /readyz: the worker delivers while the models warm up, and on a loaded machine
    # the stalled attempt would time out (and be retried) before readiness.
    runner = start_runner(project, state, env=env, ready=False)
    try:
        hook.wait_for(1, timeout=60)
        runner.proc.send_signal(signal.SIGKILL)
        runner.proc.wait(10)
    finally:
        runner.stop()
    assert box.get(row_id).status == "delivering"
    runner = start_runner(project, state, env=env)
    try:
        second = hook.wait_for(2, timeout=30)[1]
    finally:
        runner.stop()
    verify_signature("s3cret", second.body, second.headers["CB-Signature"])
    assert second.headers["CB-Idempotency-Key"] == row_id and box.get(row_id).status == "delivered"


def test_cb_calls_asks_a_remote_runner_with_its_token(tmp_path):
    from tests.cli.test_calls import seed

    project = tmp_path / "p"
    project.mkdir()
    (project / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: remote\npaths: [agents]\n")
    state = tmp_path / "state"
    state.mkdir()
    seed(state)
    runner = start_runner(project, state, env={"CB_TOKEN": "t0ken"})
    try:
        env_token = {**os.environ, "CB_TOKEN": "t0ken"}
        listed = _cb(["calls", "list", "--runner", runner.url], env_token)
        assert listed.returncode == 0 and "call_one" in listed.stdout, listed.stderr
        shown = _cb(["calls", "show", "call_one", "--runner", runner.url], env_token)
        assert shown.returncode == 0 and '"caller_name": "Maria Gomez"' in shown.stdout, shown.stderr
        missing = _cb(["calls", "show", "call_nope", "--runner", runner.url], env_token)
        assert missing.returncode == 1 and "no call 'call_nope'" in missing.stderr
        refused = _cb(["calls", "list", "--runner", runner.url], {k: v for k, v in env_token.items() if k != "CB_TOKEN"})
        assert refused.returncode == 1 and "token" in refused.stderr
    finally:
        runner.stop()


def _cb(args, env):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "cb", *args], capture_output=True, text=True, env=env, timeout=60)
