"""Issue 11's rough edges, each against a real runner process: diff of a serial that does not
exist, `cb calls` asking the runner, a second runner on one state folder, a taken port, and a
local caller signing for a runner that has a public URL."""

from __future__ import annotations

import socket
import subprocess
import sys
import time


import httpx

from cb.contracts.voice_webhook_auth import local_token, sign

from tests.support.control import start_runner


def test_diff_of_a_serial_that_does_not_exist_and_a_missing_rev(project, cb):
    assert cb("apply", "--auto-approve").exit_code == 0
    res = cb("diff", "agent.front-desk@99", "agent.front-desk@live")
    assert res.exit_code == 1 and "serial 99 does not exist: the state is at serial 1" in res.output
    assert "identical" not in res.output
    res = cb("diff", "agent.front-desk@", "agent.front-desk@live")
    assert res.exit_code == 2 and "expected ADDRESS@REV" in res.output


def test_cb_calls_asks_the_runner_like_every_other_command(project, cb):
    # the project folder has no .cb/state.db: reading it would fail; the runner has no calls yet
    res = cb("calls", "list")
    assert res.exit_code == 0 and "no calls yet" in res.output, res.output


def _log(runner) -> str:
    return next(runner.state_dir.parent.glob(f"runner-{runner.url.rsplit(':', 1)[1]}.log")).read_text()


def test_a_second_runner_on_the_same_state_warns_naming_the_first(tmp_path):
    first = start_runner(tmp_path / "state")
    second = start_runner(tmp_path / "state")
    try:
        deadline = time.monotonic() + 5
        while "already using the state folder" not in _log(second) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert f"another cb runner (pid {first.proc.pid}) is already using the state folder" in _log(second)
        assert "already using" not in _log(first)
        assert "ready on" in _log(first)
    finally:
        second.stop()
        first.stop()


def test_a_taken_port_is_a_clear_error_and_never_logs_ready(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run([sys.executable, "-c", "from cb.cli import main; main()", "runner", "--port", str(port),
                              "--state", str(tmp_path / "state")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert f"127.0.0.1:{port} is already in use (another cb runner?)" in out.stderr
    assert "ready on" not in out.stderr + out.stdout and "Errno 98" not in out.stderr


def test_a_local_caller_is_accepted_by_a_runner_with_a_public_url_and_a_403_is_logged(tmp_path):
    runner = start_runner(tmp_path / "state", "--public-url", "https://calls.example.test")
    try:
        url = runner.url + "/twilio/voice"
        form = {"CallSid": "CA" + "1" * 32, "From": "+14155550123", "To": "+14155550100", "Direction": "inbound"}
        token = local_token(runner.state_dir, create=False)
        resp = httpx.post(url, data=form, headers={"X-Twilio-Signature": sign(url, form, token)})
        assert resp.status_code != 403, resp.text
        assert "calls.example.test" not in resp.text  # a local call's stream stays on the local address

        forged = httpx.post(url, data=form, headers={"X-Twilio-Signature": "bm9wZQ=="})
        assert forged.status_code == 403
        deadline = time.monotonic() + 5
        while "refused a voice webhook (403)" not in _log(runner) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "refused a voice webhook (403)" in _log(runner)
        assert "https://calls.example.test/twilio/voice" in _log(runner)
    finally:
        runner.stop()


def test_runner_logs_ready_only_after_binding(tmp_path):
    runner = start_runner(tmp_path / "state")
    try:
        assert f"ready on http://127.0.0.1:{runner.url.rsplit(':', 1)[1]}" in _log(runner)
    finally:
        runner.stop()



