"""SIP calls into a real runner process from Debian's sipp: a ``provider: sip`` Number answers over
RTP G.711 into the same pipeline as Twilio calls, and every bad INVITE gets its SIP status while
the runner lives on. sipp binds 127.0.0.1 only and is started and stopped by each test."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from cb.runner.calls.records import open_records

from .harness import start_runner

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("sipp") is None,
                                 reason="sipp missing: apt-get install sip-tester (.ci/run installs it)")]

SCENARIOS = Path(__file__).parent / "sip"
NUMBER = "+14155550199"


def udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sip_number(project: Path, port: int, allow: str = "[127.0.0.1/32]") -> None:
    (project / "agents" / "sip.yaml").write_text(
        "apiVersion: cb/v1\nkind: Number\nmetadata: {name: front-desk-sip}\nspec:\n"
        f'  number: "{NUMBER}"\n  provider: sip\n  agent: front-desk\n'
        f'  options: {{listen: "127.0.0.1:{port}", allow: {allow}}}\n')


def refused(tmp: Path, expect: int) -> str:
    """refused.xml expecting ``expect`` (sipp takes no variable in a response code)."""
    path = tmp / f"refused-{expect}.xml"
    path.write_text((SCENARIOS / "refused.xml").read_text().replace("[expect]", str(expect)))
    return str(path)


def pcap_folder() -> Path:
    """uac_pcap plays pcap/g711a.pcap relative to sipp's working folder; Debian ships it here."""
    found = sorted(Path("/usr/share/sip-tester").glob("**/g711a.pcap"))
    if not found:
        return Path.cwd()
    folder = Path(tempfile.gettempdir()) / "cb-sipp"
    folder.mkdir(exist_ok=True)
    if not (folder / "pcap").exists():
        (folder / "pcap").symlink_to(found[0].parent)
    return folder


def logged(runner, text: str, within: float = 10) -> bool:
    """The runner logs after sipp has its answer: wait for the line rather than race it."""
    deadline = time.monotonic() + within
    while text not in runner.log.read_text():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def sipp(port: int, *args: str, to: str = NUMBER, timeout: int = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["sipp", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", "0", "-s", to,
                           f"127.0.0.1:{port}", "-m", "1", "-nostdin", "-timeout", f"{timeout - 10}s",
                           "-timeout_error", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=pcap_folder())


@pytest.fixture
def sip_runner(tmp_path, project):
    port = udp_port()
    sip_number(project, port)
    runner = start_runner(project, tmp_path / "state", env={"CB_DRAIN_SECS": "2"})
    try:
        code, out = runner.apply(project)
        assert code == 0, out
        yield runner, port
    finally:
        runner.stop()


def test_sipp_calls_the_agent_over_rtp_and_hangs_up(sip_runner):
    runner, port = sip_runner
    done = sipp(port, "-sn", "uac_pcap", "-d", "4000")  # plays A-law from a pcap, BYE after 4 s
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        calls = open_records(runner.state_dir).list(10, None)
        if calls and calls[0].status == "completed":
            break
        time.sleep(0.2)
    record = calls[0]
    assert record.status == "completed" and record.end_reason == "caller_hangup", record
    assert record.agent == "agent.front-desk" and record.to_number == NUMBER
    assert record.codec == "PCMA" and record.sip_response_code == 200 and record.sip_call_id
    assert record.remote_party.startswith("sipp@127.0.0.1:")
    log = runner.log.read_text()
    assert "answered (PCMA)" in log and "Generating TTS [Thanks for calling" in log


@pytest.mark.parametrize("codec,name", [(8, "PCMA"), (0, "PCMU")])
def test_both_g711_laws_are_answered(sip_runner, codec, name, tmp_path):
    runner, port = sip_runner
    done = sipp(port, "-sf", refused(tmp_path, 200),
                "-key", "codec", str(codec), "-key", "codec_name", name)
    assert done.returncode == 0, done.stdout[-2000:]
    assert logged(runner, f"answered ({name})"), runner.log.read_text()[-2000:]


@pytest.mark.parametrize("to,codec,expect", [
    ("+14155550000", 0, 404),  # no Number on this trunk
    (NUMBER, 18, 488),  # G.729 only
])
def test_unknown_number_and_unsupported_codec(sip_runner, to, codec, expect, tmp_path):
    runner, port = sip_runner
    done = sipp(port, "-sf", refused(tmp_path, expect),
                "-key", "codec", str(codec), "-key", "codec_name", "G729", to=to)
    assert done.returncode == 0, done.stdout[-2000:]


def test_malformed_invite_is_400_and_the_runner_lives_on(sip_runner, tmp_path):
    runner, port = sip_runner
    done = sipp(port, "-sf", str(SCENARIOS / "malformed.xml"))
    assert done.returncode == 0, done.stdout[-2000:]
    assert httpx.get(runner.url + "/readyz").status_code == 200
    ok = sipp(port, "-sf", refused(tmp_path, 200),
              "-key", "codec", "0", "-key", "codec_name", "PCMU")
    assert ok.returncode == 0, ok.stdout[-2000:]


def test_a_peer_not_allowed_is_403(tmp_path, project):
    port = udp_port()
    sip_number(project, port, allow="[10.9.9.9/32]")
    runner = start_runner(project, tmp_path / "state")
    try:
        assert runner.apply(project)[0] == 0
        done = sipp(port, "-sf", refused(tmp_path, 403),
                    "-key", "codec", "0", "-key", "codec_name", "PCMU")
        assert done.returncode == 0, done.stdout[-2000:]
        assert open_records(runner.state_dir).list(10, None) == []
    finally:
        runner.stop()


def test_at_capacity_the_runner_answers_486(tmp_path, project):
    port = udp_port()
    sip_number(project, port)
    runner = start_runner(project, tmp_path / "state", env={"CB_MAX_CALLS": "1", "CB_DRAIN_SECS": "2"})
    try:
        assert runner.apply(project)[0] == 0
        first = subprocess.Popen(["sipp", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", "0", "-s", NUMBER,
                                  f"127.0.0.1:{port}", "-sn", "uac", "-d", "6000", "-m", "1", "-nostdin"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while "answered (PCMU)" not in runner.log.read_text() and time.monotonic() < deadline:
                time.sleep(0.1)
            done = sipp(port, "-sf", refused(tmp_path, 486),
                        "-key", "codec", "0", "-key", "codec_name", "PCMU")
            assert done.returncode == 0, done.stdout[-2000:]
        finally:
            first.wait(30)
    finally:
        runner.stop()


def test_rfc4733_digits_reach_the_agent_as_a_user_turn(sip_runner):
    runner, port = sip_runner
    done = sipp(port, "-sf", str(SCENARIOS / "dtmf.xml"), timeout=90)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        calls = open_records(runner.state_dir).list(10, None)
        if calls and calls[0].status == "completed":
            break
        time.sleep(0.2)
    said = [t["text"] for t in calls[0].transcript or [] if t["role"] == "caller"]
    assert any("DTMF: 1" in text for text in said), calls[0].transcript


def records_when(runner, done, within: float = 30):
    """The call records once ``done(records)`` holds (or at the deadline)."""
    deadline = time.monotonic() + within
    while True:
        calls = open_records(runner.state_dir).list(100, None)
        if done(calls) or time.monotonic() > deadline:
            return calls
        time.sleep(0.2)


def test_cancel_while_the_webhook_is_in_flight_ends_the_call_as_canceled(sip_runner):
    runner, port = sip_runner
    done = sipp(port, "-sf", str(SCENARIOS / "cancel.xml"))  # CANCEL on 180, sent just before the webhook
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    calls = records_when(runner, lambda calls: calls and calls[0].status == "canceled", within=10)
    assert calls and calls[0].status == "canceled", calls  # not left pending until its timer
    assert calls[0].end_reason == "canceled" and calls[0].sip_response_code == 487
    assert httpx.get(runner.url + "/readyz").json()["calls"] == 0


@pytest.fixture
def hangs_up_on_a_digit(tmp_path):
    from cb.plugins.scripted.script import parse
    from cb.plugins.scripted.server import ScriptedLLMServer

    script = {"turns": [{"match": "(?i)dtmf", "say": "Goodbye!", "tool_calls": [{"name": "end_call"}]}],
              "default": "Sorry?"}
    with ScriptedLLMServer(parse(script)) as server:
        yield server


def test_the_agent_hangs_up_with_a_bye(tmp_path, hangs_up_on_a_digit):
    from .harness import write_project

    project = write_project(tmp_path / "fleet", llm_url=hangs_up_on_a_digit.url)
    port = udp_port()
    sip_number(project, port)
    runner = start_runner(project, tmp_path / "state")
    try:
        assert runner.apply(project)[0] == 0
        done = sipp(port, "-sf", str(SCENARIOS / "agent_bye.xml"), timeout=70)  # waits for the runner's BYE
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        calls = records_when(runner, lambda calls: calls and calls[0].status == "completed")
        assert calls[0].end_reason == "end_call", calls[0]
    finally:
        runner.stop()


def test_fifty_invites_at_once_against_ten_places(tmp_path, project):
    port = udp_port()
    sip_number(project, port)
    runner = start_runner(project, tmp_path / "state", env={"CB_MAX_CALLS": "10", "CB_DRAIN_SECS": "2"})
    try:
        assert runner.apply(project)[0] == 0
        stats = tmp_path / "flood.csv"
        done = subprocess.run(["sipp", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", "0", "-s", NUMBER,
                               f"127.0.0.1:{port}", "-sf", str(SCENARIOS / "flood.xml"), "-m", "50", "-l", "50",
                               "-r", "50", "-rp", "100", "-nostdin", "-timeout", "60s", "-timeout_error",
                               "-trace_stat", "-stf", str(stats), "-fd", "1"],
                              capture_output=True, text=True, timeout=80, cwd=pcap_folder())
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]  # every INVITE got 200 or 486
        calls = records_when(runner, lambda calls: all(c.status == "completed" for c in calls))
        assert 1 <= len(calls) <= 10, [c.status for c in calls]  # the other 40+ were refused before admission
        assert runner.log.read_text().count(" refused: ") >= 50 - len(calls)  # at capacity (or the loop late)
        assert httpx.get(runner.url + "/healthz").status_code == 200
        assert runner.proc.poll() is None
    finally:
        runner.stop()


def test_while_draining_an_invite_is_480(tmp_path, project):
    port = udp_port()
    sip_number(project, port)
    runner = start_runner(project, tmp_path / "state", env={"CB_DRAIN_SECS": "20"})
    try:
        assert runner.apply(project)[0] == 0
        first = subprocess.Popen(["sipp", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", "0", "-s", NUMBER,
                                  f"127.0.0.1:{port}", "-sn", "uac", "-d", "8000", "-m", "1", "-nostdin"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # in progress once its media stream runs: a call still pending at the signal is not drained
            calls = records_when(runner, lambda calls: calls and calls[0].status == "in-progress", within=20)
            assert calls and calls[0].status == "in-progress", calls
            runner.proc.terminate()  # SIGTERM: drain the call in progress, refuse new ones
            assert logged(runner, "draining", within=10)
            done = sipp(port, "-sf", refused(tmp_path, 480), "-key", "codec", "0", "-key", "codec_name", "PCMU")
            assert done.returncode == 0, done.stdout[-2000:]
        finally:
            assert first.wait(30) == 0  # the call in progress finished with its own BYE
    finally:
        runner.stop()


def test_an_apply_whose_listen_address_cannot_be_bound_is_refused(tmp_path, project):
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    sip_number(project, port)
    runner = start_runner(project, tmp_path / "state")
    try:
        code, out = runner.apply(project)
        assert code != 0, out
        assert f"number.front-desk-sip: cannot listen for SIP on 127.0.0.1:{port} (UDP)" in out, out
        assert "nothing was applied" in out, out
        taken.close()  # the address is free now: the same change set, still unapplied, goes through
        code, out = runner.apply(project)
        assert code == 0 and "number.front-desk-sip" in out, out
        assert logged(runner, f"SIP: listening on 127.0.0.1:{port}")
    finally:
        taken.close()
        runner.stop()
