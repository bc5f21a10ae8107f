"""The outcomes extension inside a real runner process: call media behind the token, and a runner
SIGKILLed mid-delivery that delivers after restart (the worker runs in-process there)."""

from __future__ import annotations

import httpx
import pytest

from cb.runner.outcomes import call_dir

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

    from cb.runner.webhooks import Outbox, WebhookPayload, verify_signature

    hook = receiver(["stall", 200])
    project = tmp_path / "p"
    project.mkdir()
    (project / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: kill\npaths: [agents]\n")
    state = tmp_path / "state"
    box = Outbox.open(state)
    row_id = box.enqueue(call_id="call_k", url=hook.url, secret_ref="${env:HOOK_SECRET}", payload=WebhookPayload(
        call_id="call_k", agent="agent.front-desk", status="completed", duration_sec=3))
    env = {"HOOK_SECRET": "s3cret"}
    runner = start_runner(project, state, env=env)
    try:
        hook.wait_for(1, timeout=30)
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
