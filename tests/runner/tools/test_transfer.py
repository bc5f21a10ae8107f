"""transfer_call on Twilio: the real twilio SDK against the local fake of Twilio's REST API."""

from __future__ import annotations

import asyncio

from cb.runner.tools.transfer import TwilioTransfer, dial_twiml
from tests.fakes.fixtures import twilio_fake  # noqa: F401 - pytest fixture


def test_transfer_redirects_the_live_call_to_dial(twilio_fake):  # noqa: F811
    twilio_fake.seed_number("+14155550100")
    call = twilio_fake.client().calls.create(to="+14155550199", from_="+14155550100", url="https://x.example/voice")
    twilio_fake.set_call_status(call.sid, "in-progress")
    transfer = TwilioTransfer.from_env(call.sid, twilio_fake.env(), caller_id="+14155550100")
    asyncio.run(transfer("+14155550123"))
    [update] = twilio_fake.call_updates[call.sid]
    assert update["Twiml"] == dial_twiml("+14155550123", "+14155550100")
    assert "<Dial callerId=\"+14155550100\"><Number>+14155550123</Number></Dial>" in update["Twiml"]
