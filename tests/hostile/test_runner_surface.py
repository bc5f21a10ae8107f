"""Issue 15 through a real runner process: hostile HTTP and WebSocket traffic is refused early, costs
bounded memory and time, and after every case (each parametrized one too) the runner still answers
/healthz and completes a normal signed call (about 1-3 s a call; the suite stays under two minutes).
(The config cases, items 6 validation, 9 and 10, are tests/config/test_template_safety.py,
test_loader_files.py and test_printed_names.py; items 7 and 8 are tests/runner/tools/test_egress.py.)"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest
import websockets

from cb.contracts.voice_webhook_auth import local_token, sign
from tests.e2e.harness import start_runner, write_project

RSS_GROWTH_MB = 100  # per case: what the runner may grow while refusing it
SECONDS = 15  # per case


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    project = write_project(tmp / "fleet", llm_url="http://127.0.0.1:9/v1",
                            greeting="Hello from {{ business_name }}.")
    # A greeting that validates but fails when rendered (item 6's runtime side).
    write_project(tmp / "fleet", llm_url="http://127.0.0.1:9/v1", name="broken", number="+14155550177",
                  greeting="{{ 1 // (business_name|length - business_name|length) }}")
    r = start_runner(project, tmp / "state", env={"CB_PENDING_TTL_SECS": "2", "CB_MAX_CALLS": "3"})
    code, out = r.apply(project)
    assert code == 0, out
    yield r
    r.stop()


@pytest.fixture
def bounded(runner):
    """Each case: within SECONDS and RSS_GROWTH_MB, and then the runner healthy and taking a call."""
    before, t0 = rss(runner.proc.pid), time.monotonic()
    yield
    took, grew = time.monotonic() - t0, (rss(runner.proc.pid) - before) / 2**20
    assert took < SECONDS and grew < RSS_GROWTH_MB, (took, grew)
    assert httpx.get(runner.url + "/healthz", timeout=5).status_code == 200
    normal_call(runner)


def normal_call(runner) -> None:
    """The runner admits, streams and ends a signed call (no STT/LLM needed: the caller hangs up
    once the greeting's audio flows), and records it completed."""
    from cb.plugins.local.twilio_peer import TwilioPeer

    class Listener(TwilioPeer):
        async def talk(self):
            await self.until(lambda: len(self.trace.media_at) > 10, timeout=60)

    peer = Listener(runner.url, local_token(runner.state_dir, create=False), to_number="+14155550100")
    trace = asyncio.run(peer.call())
    assert trace.refused is None and len(trace.media_at) > 10, trace
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        call = httpx.get(runner.url + f"/v1/calls/{trace.call_id}", timeout=5).json()
        if call["status"] == "completed":
            return
        time.sleep(0.1)
    raise AssertionError(f"the normal call did not complete: {call}")


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def form(sid=None):
    return {"CallSid": sid or "CA" + uuid.uuid4().hex, "AccountSid": "AC" + "0" * 32, "From": "+15005550006",
            "To": "+14155550100", "Direction": "inbound"}


def signed_post(runner, data):
    url = runner.url + "/twilio/voice"
    return httpx.post(url, data=data, timeout=10,
                      headers={"X-Twilio-Signature": sign(url, data, local_token(runner.state_dir, create=False))})


def stream_params(resp):
    stream = ET.fromstring(resp.text).find("./Connect/Stream")
    return {p.get("name"): p.get("value") for p in stream.findall("Parameter")}


def raw_post(runner, path, headers: bytes, body_chunks) -> bytes:
    port = int(runner.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
        try:
            for chunk in body_chunks:
                s.sendall(chunk)
        except OSError:  # the runner answered 413 and closed: it stopped reading
            pass
        return s.recv(4096)


@pytest.mark.parametrize("path", ["/twilio/voice", "/v1/apply", "/v1/lock"])
def test_1_a_declared_oversized_body_is_413_before_it_is_read(runner, bounded, path):
    reply = raw_post(runner, path, b"Content-Length: 400000000\r\nContent-Type: application/json\r\n",
                     [b"x" * 65536] * 4)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]


def test_1_a_chunked_body_is_counted_as_it_streams(runner, bounded):
    chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
    reply = raw_post(runner, "/twilio/voice", b"Transfer-Encoding: chunked\r\n", (chunk for _ in range(4000)))
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]


def test_2_a_replayed_webhook_is_refused_and_pending_calls_expire_on_time(runner, bounded):
    data = form()
    assert signed_post(runner, data).text.count("<Stream") == 1
    for _ in range(5):
        assert '<Reject reason="busy"/>' in signed_post(runner, data).text
    for _ in range(2):
        signed_post(runner, form())  # 3 pending, none streaming: at capacity
    assert httpx.get(runner.url + "/readyz").status_code == 503
    time.sleep(2.5)  # the TTL, with no traffic at all
    assert httpx.get(runner.url + "/readyz").status_code == 200
    assert "already admitted" in Path(runner.log).read_text()


@pytest.mark.parametrize("start", [
    {"event": "start", "start": [1, 2]},
    {"event": "start", "start": {"streamSid": "MZ1", "callSid": "CA1", "customParameters": "x"}},
    ["not", "an", "object"], "a string", {"event": 5}, {"event": "media", "media": "x"},
])
def test_3_a_malformed_message_closes_with_1008_and_one_line(runner, bounded, start):
    async def go():
        async with websockets.connect(runner.url.replace("http", "ws") + "/twilio/stream") as ws:
            await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
            await ws.send(json.dumps(start))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            return closed.value.rcvd.code
    assert asyncio.run(go()) == 1008
    assert "Traceback" not in Path(runner.log).read_text()


def test_4_the_streams_callsid_must_be_the_signed_webhooks(runner, bounded):
    data = form()
    params = stream_params(signed_post(runner, data))

    async def go():
        async with websockets.connect(runner.url.replace("http", "ws") + "/twilio/stream") as ws:
            await ws.send(json.dumps({"event": "start", "streamSid": "MZ1", "start": {
                "streamSid": "MZ1", "callSid": "CA" + "f" * 32, "customParameters": params}}))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            return closed.value.rcvd.code
    assert asyncio.run(go()) == 1008
    assert "is not the CallSid of the webhook" in Path(runner.log).read_text()


def test_6_a_template_that_fails_at_call_time_gets_an_apology_not_a_500(runner, bounded):
    resp = signed_post(runner, {**form(), "To": "+14155550177"})
    assert resp.status_code == 200 and "<Say>" in resp.text and "<Hangup/>" in resp.text
    calls = httpx.get(runner.url + "/v1/calls", params={"agent": "agent.broken"}).json()["calls"]
    assert calls[0]["status"] == "failed" and "ZeroDivisionError" in (calls[0].get("error") or "")


def test_5_openapi_needs_the_token_and_a_weak_token_is_refused_beyond_loopback(runner, bounded, tmp_path):
    import subprocess
    import sys
    assert httpx.get(runner.url + "/openapi.json").status_code == 200  # loopback, no token: open
    out = subprocess.run([sys.executable, "-m", "cb", "runner", "--host", "0.0.0.0", "--port", "1", "--state",
                          str(tmp_path / "s")], env={"CB_TOKEN": "x", "PATH": "/usr/bin"},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "weak token" in out.stderr and "token_urlsafe" in out.stderr


def test_zz_a_normal_call_completes_after_all_of_it(runner):
    """Last: the runner still admits, streams and ends a signed call."""
    normal_call(runner)
