"""A call's recording and transcript, served by a real runner process under the admin token."""

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
