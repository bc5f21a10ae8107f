"""An inbound call below the policy's attestation minimum hears the policy's message and the call
ends, recorded as refused with the decision; one at or above it is answered, the decision (and the
recording disclosure's) on its record too. Through the runner app's real /twilio/voice route."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

from fastapi.testclient import TestClient

from cb.contracts.voice_webhook_auth import local_token
from cb.runner.app import Settings, create_app
from cb.runner.compliance.inbound import attestation_of
from cb.state import open_store

from tests.fakes.twilio_signing import sign, voice_webhook_params
from tests.support.fleet import FLEET, commit_fleet

POLICY = """\
---
apiVersion: cb/v1
kind: CompliancePolicy
metadata: {name: verified}
spec:
  attestation: B
  attestation_message: "Please call us from a verified number."
  recording_consent: {required: true, disclosure: "This call is recorded."}
"""
PUBLIC = "https://calls.example.test"


def test_attestation_parsed_from_stir_verstat():
    assert [attestation_of(v) for v in ("TN-Validation-Passed-A", "TN-Validation-Passed-C", "TN-Validation-Failed-A",
                                        "No-TN-Validation", None)] == ["A", "C", None, None, None]


def test_an_inbound_call_below_the_minimum_hears_the_message_and_is_refused(tmp_path):
    store = open_store(tmp_path / "state")
    commit_fleet(store, tmp_path, FLEET.replace("  tools: [book, end_call]", "  tools: [book, end_call]\n"
                                                "  compliance: [verified]") + POLICY)
    store.close()
    app = create_app(Settings(state_dir=tmp_path / "state", public_url=PUBLIC))
    token = local_token(tmp_path / "state")

    def ring(sid, verstat):
        form = voice_webhook_params(account_sid="AC" + "0" * 32, to="+14155550100", call_sid=sid, from_="+12125550100", **({"StirVerstat": verstat} if verstat else {}))
        signature = sign(PUBLIC + "/twilio/voice", form, token)
        return client.post("/twilio/voice", data=form, headers={"X-Twilio-Signature": signature})

    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + 120
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)  # the default profile's models load first
        low = ring("CA" + "c" * 32, "TN-Validation-Passed-C")
        root = ET.fromstring(low.text)
        assert [el.tag for el in root] == ["Say", "Hangup"]
        assert root[0].text == "Please call us from a verified number."
        none = ring("CA" + "d" * 32, None)
        assert ET.fromstring(none.text)[0].tag == "Say"
        good = ring("CA" + "a" * 32, "TN-Validation-Passed-A")
        assert "<Stream" in good.text or "<Connect" in good.text
        calls = {c["provider_call_id"]: c for c in client.get("/v1/calls", headers=auth).json()["calls"]}
    refused = calls["CA" + "c" * 32]
    assert refused["status"] == "refused" and refused["end_reason"] == "compliance"
    assert [(d["rule"], d["outcome"]) for d in refused["compliance"]] == [("attestation", "refused")]
    assert "below the minimum B" in refused["compliance"][0]["detail"]
    assert calls["CA" + "d" * 32]["status"] == "refused"
    answered = calls["CA" + "a" * 32]
    assert [(d["rule"], d["outcome"]) for d in answered["compliance"]] == [
        ("attestation", "allowed"), ("recording_disclosure", "allowed")]
