"""The voice webhook of a real runner process: signatures, routing, TwiML, readiness, metrics."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET

import httpx
import pytest
import websockets

from cb.contracts.voice_webhook_auth import local_token, sign

FORM = {"CallSid": "CA" + "1" * 32, "AccountSid": "AC" + "0" * 32, "From": "+15005550006",
        "To": "+14155550100", "Direction": "inbound", "CallStatus": "ringing"}


def post(runner, form, signature):
    return httpx.post(runner.url + "/twilio/voice", data=form, headers={"X-Twilio-Signature": signature}, timeout=10)


@pytest.fixture
def applied(runner, project):
    code, out = runner.apply(project)
    assert code == 0, out
    return runner


def test_a_forged_signature_gets_403_and_is_counted(applied):
    token = local_token(applied.state_dir, create=False)
    url = applied.url + "/twilio/voice"
    assert post(applied, FORM, sign(url, FORM, "not-the-token")).status_code == 403
    assert post(applied, FORM, "").status_code == 403
    tampered = {**FORM, "To": "+14155550199"}  # signed for one number, sent for another
    assert post(applied, tampered, sign(url, FORM, token)).status_code == 403
    metrics = httpx.get(applied.url + "/metrics").text
    assert 'cb_twilio_webhook_rejected_total{reason="signature"} 3.0' in metrics
    assert not httpx.get(applied.url + "/v1/calls").json()["calls"]  # nothing was admitted


def test_a_signed_webhook_is_answered_with_a_stream_for_the_numbers_agent(applied):
    url = applied.url + "/twilio/voice"
    resp = post(applied, FORM, sign(url, FORM, local_token(applied.state_dir, create=False)))
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/xml")
    stream = ET.fromstring(resp.text).find("./Connect/Stream")
    assert stream.get("url") == applied.url.replace("http://", "ws://") + "/twilio/stream"
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    assert params["agent"] == "agent.front-desk" and params["call_id"].startswith("call_")
    call = httpx.get(applied.url + f"/v1/calls/{params['call_id']}").json()
    assert call["status"] == "ringing" and call["agent_revision"] == params["revision"]
    assert call["provider_call_id"] == FORM["CallSid"]


def test_an_unknown_number_is_told_it_is_not_in_service(applied):
    form = {**FORM, "To": "+14155550199"}
    url = applied.url + "/twilio/voice"
    resp = post(applied, form, sign(url, form, local_token(applied.state_dir, create=False)))
    assert resp.status_code == 200 and "<Say>This number is not in service.</Say><Hangup/>" in resp.text


def test_a_stream_for_an_unknown_call_is_closed(applied):
    async def go():
        async with websockets.connect(applied.url.replace("http", "ws") + "/twilio/stream") as ws:
            await ws.send(json.dumps({"event": "connected"}))
            await ws.send(json.dumps({"event": "start", "start": {"streamSid": "MZ1", "customParameters": {"call_id": "call_nope"}}}))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            return closed.value.rcvd.code
    assert asyncio.run(go()) == 1008


def test_readiness_reports_capacity(applied):
    body = httpx.get(applied.url + "/readyz").json()
    assert body["ready"] is True and body["calls"] == 0 and body["max_calls"] == 500


def test_an_outbound_call_names_its_agent_and_context_in_the_signed_url(applied):
    # As Twilio would post for a call created with url=<voice url>?agent=...&context=...
    form = {**FORM, "Direction": "outbound-api", "From": "+14155550100", "To": "+15557654321"}
    url = applied.url + "/twilio/voice?agent=front-desk&context=%7B%22business_name%22%3A%20%22Maria%27s%20Clinic%22%7D"
    token = local_token(applied.state_dir, create=False)
    resp = post_to(url, form, sign(url, form, token))
    params = {p.get("name"): p.get("value") for p in ET.fromstring(resp.text).find("./Connect/Stream").findall("Parameter")}
    call = httpx.get(applied.url + f"/v1/calls/{params['call_id']}").json()
    assert (call["direction"], call["from_number"], call["to_number"]) == ("outbound", "+14155550100", "+15557654321")
    # The query is signed: changing it after signing is refused.
    assert post_to(url.replace("Maria", "Mallory"), form, sign(url, form, token)).status_code == 403
    bad = applied.url + "/twilio/voice?context=not-json"
    assert post_to(bad, form, sign(bad, form, token)).status_code == 400


def post_to(url, form, signature):
    return httpx.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=10)
