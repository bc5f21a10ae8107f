"""The webhook signing helper signs exactly as Twilio does: the SDK's validator agrees."""

from __future__ import annotations

import base64
import hashlib
import hmac

from twilio.request_validator import RequestValidator

from tests.fakes.recording_server import RecordingServer
from tests.fakes.twilio_signing import post_signed, sign, signed_headers, voice_webhook_params

TOKEN = "12345678901234567890123456789012"
URL = "https://runner.example/twilio/voice?agent=front-desk"


def params():
    return voice_webhook_params(account_sid="AC" + "1" * 32, to="+14155550100", call_sid="CA" + "2" * 32)


def test_validator_accepts_the_signature():
    signature = sign(URL, params(), TOKEN)
    assert RequestValidator(TOKEN).validate(URL, params(), signature)
    assert signed_headers(URL, params(), TOKEN)["X-Twilio-Signature"] == signature


def test_signature_follows_twilios_documented_algorithm():
    """HMAC-SHA1 (auth token as key) over the URL then each POST name+value sorted by name, base64."""
    form = params()
    payload = URL + "".join(name + form[name] for name in sorted(form))
    expected = base64.b64encode(hmac.new(TOKEN.encode(), payload.encode(), hashlib.sha1).digest()).decode()
    assert sign(URL, form, TOKEN) == expected


def test_validator_rejects_tampering():
    signature = sign(URL, params(), TOKEN)
    validator = RequestValidator(TOKEN)
    assert not validator.validate(URL, {**params(), "To": "+14155550199"}, signature)
    assert not validator.validate(URL.replace("front-desk", "billing"), params(), signature)
    assert not validator.validate(URL, params(), sign(URL, params(), "another-token"))


def test_post_signed_passes_a_real_server_check_and_a_bad_signature_is_refused():
    with RecordingServer(auth_token=TOKEN) as server:
        url = server.url("/twilio/voice")
        status, _, _ = post_signed(url, params(), TOKEN)
        bad_status, _, _ = post_signed(url, params(), TOKEN, signature="AAAA" + sign(url, params(), TOKEN)[4:])
    assert (status, bad_status) == (204, 403)
    assert [r.signature_valid for r in server.received] == [True, False]
    assert server.received[0].form == params()
