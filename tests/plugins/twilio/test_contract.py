"""The SDK's requests to the fake, and the fake's answers, agree with Twilio's official OpenAPI spec."""

from __future__ import annotations

import json

import pytest
import requests

from cb.plugins.twilio.numbers import TwilioNumbers
from cb.providers.base import DesiredNumber
from tests.fakes.twilio_contract import SPEC_PATH, contract_problems, load_contract
from tests.fakes.twilio_rest import RecordedRequest
from tests.fakes.twilio_spec import regenerate

VOICE = "https://runner.example/twilio/voice"


def drive_everything(fake) -> None:
    """Every operation cb or the runner uses, through the provider and the SDK, errors included."""
    provider = TwilioNumbers(environ=fake.env(), retry_delay=0)
    for i in range(3):
        fake.seed_number(f"+1415555020{i}")
    fake.add_available("+14155550100")
    bought = provider.create(DesiredNumber("+14155550100", VOICE, status_callback=VOICE + "/s", purchase=True))
    provider.create(DesiredNumber("+14155550201", VOICE, friendly_name="cb imported"))
    provider.update(provider.read("+14155550100"), DesiredNumber("+14155550100", VOICE, "GET"))
    fake.client().incoming_phone_numbers.list(page_size=2)  # two pages
    fake.client().incoming_phone_numbers(bought.sid).fetch()
    provider.delete(bought)
    provider.delete(bought)  # 404: already released
    client = fake.client()
    call = client.calls.create(
        to="+15551230000", from_="+14155550200", url=VOICE, method="POST", status_callback=VOICE + "/s",
        status_callback_event=["initiated", "ringing", "answered", "completed"], timeout=30, record=False,
        machine_detection="Enable",
    )
    client.calls(call.sid).fetch()
    client.calls(call.sid).update(twiml="<Response><Dial>+15559990000</Dial></Response>")
    client.calls(call.sid).update(status="completed")
    client.calls.list(to="+15551230000", status="completed", page_size=20)
    client.calls(call.sid).delete()
    fake.fail_next(429, 20429, "Too Many Requests")
    provider.read("+14155550200")


def test_every_request_and_response_matches_the_spec(twilio_fake):
    drive_everything(twilio_fake)
    contract = load_contract()
    assert contract_problems(twilio_fake.requests) == []
    assert contract.operations_seen(twilio_fake.requests) == {op.name for op in contract.operations}
    assert {r.status for r in twilio_fake.requests} >= {200, 201, 204, 404, 429}


@pytest.mark.off_contract
def test_the_check_catches_an_unknown_or_missing_parameter(twilio_fake):
    held = twilio_fake.seed_number("+14155550100")
    base = f"{twilio_fake.base_url}/2010-04-01/Accounts/{twilio_fake.account_sid}"
    auth = (twilio_fake.account_sid, twilio_fake.auth_token)
    requests.post(f"{base}/IncomingPhoneNumbers/{held['sid']}.json", data={"VoiceURL": VOICE}, auth=auth, timeout=5)
    requests.post(f"{base}/Calls.json", data={"From": "+14155550100", "Url": VOICE}, auth=auth, timeout=5)
    requests.get(f"{base}/Calls.json", params={"PageSize": "many"}, auth=auth, timeout=5)
    requests.get(f"{base}/Queues.json", auth=auth, timeout=5)
    problems = "\n".join(contract_problems(twilio_fake.requests))
    assert "form parameter 'VoiceURL' is not in the spec" in problems
    assert "required form parameter 'To' missing" in problems
    assert "query PageSize: ['many'] is not a integer" in problems
    assert "Queues.json: no such operation" in problems


def test_the_check_catches_a_response_that_strays_from_the_schema(twilio_fake):
    held = twilio_fake.seed_number("+14155550100")
    good = twilio_fake.client().incoming_phone_numbers(held["sid"]).fetch()
    assert good.sid == held["sid"]
    (record,) = twilio_fake.requests
    bad = dict(record.response, date_created="2024-01-01T00:00:00Z", voice_method="PUT", invented=1)
    del bad["phone_number"]
    stray = RecordedRequest(**{**record.__dict__, "response": bad})
    problems = "\n".join(contract_problems([stray]))
    assert "date_created" in problems and "date-time-rfc-2822" in problems
    assert "voice_method" in problems and "fields not in the spec: ['invented']" in problems
    assert "spec fields missing: ['phone_number']" in problems
    wrong_status = RecordedRequest(**{**record.__dict__, "status": 201})
    assert "answered 201" in contract_problems([wrong_status])[0]


def test_vendored_spec_is_the_trimmed_official_one():
    spec = json.loads(SPEC_PATH.read_text())
    source = spec["x-cb-source"]
    assert source["package"] == "@twilio-alpha/mcp" and source["file"].endswith("twilio_api_v2010.json")
    assert len(source["sha256"]) == 64
    assert {p: tuple(m for m in ("get", "post", "delete") if m in item) for p, item in spec["paths"].items()} == {
        p: tuple(m for m in ("get", "post", "delete") if m in methods) for p, methods in regenerate.OPERATIONS.items()
    }
    # Trimming is deterministic: trimming the subset again gives the same text.
    assert regenerate.render(regenerate.trim(spec, source)) == SPEC_PATH.read_text()
