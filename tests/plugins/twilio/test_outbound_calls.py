"""Outbound calls over Twilio, end to end against the stateful REST fake: a real runner process
creates the call through the real SDK (checked against Twilio's spec by this folder's fixture),
the fake plays Twilio's side (status callbacks, the answer's TwiML fetch, async AMD), and the
record and the signed webhook follow. Also: hang-up in any state, Twilio's own errors (21215),
a runner Twilio could not reach, and the signature check on every callback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from cb.client import Client, RunnerError
from tests.fakes.twilio_signing import post_signed, voice_webhook_params
from tests.support.control import free_port

pytestmark = pytest.mark.slow

AGENT = """\
apiVersion: cb/v1
kind: Agent
metadata: {{name: reminders}}
spec:
  greeting: "Hi {{{{ first_name }}}}, this is Bright Smile Dental."
  instructions: You confirm appointments.
  phone: {{voicemail: hangup}}
  context: {{first_name: {{type: string, required: true}}}}
  webhook: {{url: "{hook}/calls", events: [call.completed, call.failed]}}
---
apiVersion: cb/v1
kind: Number
metadata: {{name: reminders-line}}
spec: {{number: "+14155550123", provider: twilio, agent: reminders, outbound_calls: true}}
"""


def start(root: Path, env: dict[str, str], public: bool = True, state: str = "state") -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["--public-url", url] if public else []
    proc = subprocess.Popen([sys.executable, "-m", "cb", "runner", "--port", str(port), "--state", str(root / state),
                             *args], cwd=root, stdout=open(root / f"runner-{port}.log", "w"), stderr=subprocess.STDOUT,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", "CB_PROFILE": "scripted", **env})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, (root / f"runner-{port}.log").read_text()
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("runner not ready in 60 s")


@pytest.fixture
def fleet(tmp_path, twilio_fake, receiver):
    hook = receiver([200])
    twilio_fake.seed_number("+14155550123")
    (tmp_path / "agents").mkdir()
    (tmp_path / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: tw\npaths: [agents]\n")
    (tmp_path / "agents" / "reminders.yaml").write_text(AGENT.format(hook=hook.url))
    proc, url = start(tmp_path, twilio_fake.env())
    try:
        from click.testing import CliRunner

        from cb.cli import cli

        old = os.getcwd()
        os.chdir(tmp_path)
        try:
            res = CliRunner().invoke(cli, ["apply", "--auto-approve", "--runner", url])
        finally:
            os.chdir(old)
        assert res.exit_code == 0, res.output
        yield url, twilio_fake, hook
    finally:
        proc.terminate()
        proc.wait(30)


def status(url: str, call_id: str) -> dict:
    return httpx.get(f"{url}/v1/calls/{call_id}", timeout=10).json()


def test_a_call_walks_twilios_states_and_amd_hangs_up_on_a_machine(fleet):
    url, fake, hook = fleet
    with Client(url) as client:
        call = client.calls.create(agent_id="reminders", to="+14155550199", context={"first_name": "Maria"},
                                   metadata={"lead": 7})
    assert call.status == "queued" and call.provider_call_id.startswith("CA")
    sid, call_id = call.provider_call_id, call.id
    [create] = fake.requests_for("POST Calls")
    params = create.form
    assert params["To"] == ["+14155550199"] and params["From"] == ["+14155550123"]
    assert params["Url"] == [f"{url}/twilio/voice?call={call_id}"] and params["Method"] == ["POST"]
    assert params["StatusCallback"] == [f"{url}/twilio/status?call={call_id}"]
    assert params["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert params["MachineDetection"] == ["Enable"] and params["AsyncAmd"] == ["true"]  # voicemail: hangup
    assert params["AsyncAmdStatusCallback"] == [f"{url}/twilio/amd?call={call_id}"]

    for state in ("initiated", "ringing"):
        assert fake.send_status_callback(sid, state)[0] == 204
        assert status(url, call_id)["status"] == state
    code, _, twiml = fake.answer(sid)  # Twilio fetches the signed voice URL when the callee answers
    stream = ET.fromstring(twiml).find("./Connect/Stream")
    assert code == 200 and {p.get("name"): p.get("value") for p in stream.findall("Parameter")}["call_id"] == call_id
    assert fake.send_status_callback(sid, "in-progress")[0] == 204
    assert status(url, call_id)["status"] == "in-progress"
    fake.send_status_callback(sid, "ringing")  # out of order: never undoes a later state
    assert status(url, call_id)["status"] == "in-progress"

    assert fake.send_amd_callback(sid, "machine_start")[0] == 204  # async AMD: a machine, policy hangup
    [hangup] = fake.call_updates[sid]
    assert hangup["Status"] == "completed"
    fake.send_status_callback(sid, "completed", duration=4, SipResponseCode="200")
    record = status(url, call_id)
    assert record["status"] == "completed" and record["answered_by"] == "machine_start"
    assert record["voicemail"] == "hung_up" and record["end_reason"] == "voicemail"
    assert record["carrier_duration_sec"] == 4 and record["sip_response_code"] == 200
    # Each callback is in the record with its time, beside the states it moved (the call page's events).
    carrier = [(e["status"], e.get("answered_by")) for e in record["events"] if e["source"] == "carrier"]
    assert carrier == [("initiated", None), ("ringing", None), ("in-progress", None), ("ringing", None),
                       ("amd", "machine_start"), ("completed", None)], record["events"]
    assert [e["status"] for e in record["events"] if e["source"] == "runner"][:3] == ["queued", "initiated", "ringing"]
    [delivery] = hook.wait_for(1, timeout=30)
    body = delivery.json()
    assert body["answered_by"] == "machine_start" and body["voicemail"] == "hung_up"
    assert body["provider_call_id"] == sid and body["metadata"] == {"lead": 7} and body["direction"] == "outbound"


def test_busy_and_twilio_errors_end_the_record_and_the_webhook_still_goes_out(fleet):
    url, fake, hook = fleet
    with Client(url) as client:
        busy = client.calls.create(agent="reminders", to="+14155550188", context={"first_name": "Ann"})
        fake.send_status_callback(busy.provider_call_id, "busy", SipResponseCode="486")
        assert status(url, busy.id)["status"] == "busy" and status(url, busy.id)["sip_response_code"] == 486

        fake.fail_next(400, 21215, "Account not authorized to call +4420. Perhaps you need to enable some "
                       "international permissions", method="POST", path_contains="/Calls.json")
        with pytest.raises(RunnerError) as refused:
            client.calls.create(agent="reminders", to="+442071838750", context={"first_name": "Bo"})
    assert refused.value.status == 502 and "21215" in str(refused.value)
    failed = refused.value.body["call"]
    assert failed["status"] == "failed" and failed["error_code"] == 21215
    assert "international permissions" in failed["error"]
    bodies = {r.json()["call_id"]: r.json() for r in hook.wait_for(2, timeout=30)}
    assert bodies[busy.id]["event"] == "call.failed" and bodies[busy.id]["status"] == "busy"
    assert bodies[busy.id]["sip_response_code"] == 486
    assert bodies[failed["id"]]["error_code"] == 21215 and bodies[failed["id"]]["status"] == "failed"


def test_a_ringing_call_is_canceled_by_hang_up(fleet):
    url, fake, _ = fleet
    with Client(url) as client:
        call = client.calls.create(agent="reminders", to="+14155550166", context={"first_name": "Cy"})
        fake.send_status_callback(call.provider_call_id, "ringing")
        ended = client.calls.hangup(call.id)
    assert ended["status"] == "canceled"
    assert fake.call_updates[call.provider_call_id] == [{"Status": "canceled"}]


def test_callbacks_are_signature_checked_and_inbound_calls_keep_stir_verstat(fleet):
    url, fake, _ = fleet
    form = {"CallSid": "CA" + "1" * 32, "CallStatus": "completed", "AnsweredBy": "human"}
    for path in ("/twilio/status", "/twilio/amd"):
        assert post_signed(url + path, form, "not-the-token")[0] == 403
        assert httpx.post(url + path, data=form).status_code == 403
    params = voice_webhook_params(account_sid=fake.account_sid, to="+14155550123", StirVerstat="TN-Validation-Passed-A")
    voice = url + "/twilio/voice?" + urlencode({"context": json.dumps({"first_name": "Dee"})})
    code, _, twiml = post_signed(voice, params, fake.auth_token)
    call_id = {p.get("name"): p.get("value") for p in ET.fromstring(twiml).find("./Connect/Stream")}["call_id"]
    assert status(url, call_id)["stir_verstat"] == "TN-Validation-Passed-A"


def test_a_runner_twilio_cannot_reach_refuses_before_dialling(tmp_path, fleet):
    """The fleet was applied through a runner with a public URL; a second runner on the same state
    without one (a developer's laptop) must refuse rather than hand Twilio 127.0.0.1."""
    url, fake, _ = fleet
    proc, private = start(tmp_path, fake.env(), public=False, state="state")
    try:
        with Client(private) as client, pytest.raises(RunnerError) as refused:
            client.calls.create(agent="reminders", to="+14155550199", context={"first_name": "Maria"})
        assert refused.value.status == 400 and "--public-url" in str(refused.value)
    finally:
        proc.terminate()
        proc.wait(30)
    assert not fake.requests_for("POST Calls")
