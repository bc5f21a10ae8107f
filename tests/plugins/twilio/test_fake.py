"""The Twilio REST fake behaves like Twilio where the SDK and cb can tell: auth, shapes, paging, errors."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException

from tests.fakes.recording_server import RecordingServer


@pytest.mark.off_contract
def test_requests_without_valid_basic_auth_get_twilios_401(twilio_fake):
    url = f"{twilio_fake.base_url}/2010-04-01/Accounts/{twilio_fake.account_sid}/IncomingPhoneNumbers.json"
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(url, timeout=5)
    assert error.value.code == 401
    assert error.value.headers["WWW-Authenticate"].startswith("Basic")
    assert json.loads(error.value.read()) == {
        "code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401,
    }
    assert twilio_fake.requests[0].authorized is False and twilio_fake.requests[0].username is None


def test_another_accounts_path_is_not_found(twilio_fake):
    client = twilio_fake.client()
    with pytest.raises(TwilioRestException) as error:
        client.api.v2010.accounts("AC" + "f" * 32).incoming_phone_numbers("PN" + "0" * 32).fetch()
    assert (error.value.status, error.value.code) == (404, 20404)


def test_listing_pages_through_next_page_uri(twilio_fake):
    for i in range(120):
        twilio_fake.seed_number(f"+1415555{i:04d}")
    numbers = twilio_fake.client().incoming_phone_numbers.list(page_size=50)
    assert sorted(n.phone_number for n in numbers) == [f"+1415555{i:04d}" for i in range(120)]
    pages = twilio_fake.requests_for("GET IncomingPhoneNumbers")
    assert [p.param("Page") for p in pages] == [None, "1", "2"]
    assert pages[-1].response["next_page_uri"] is None


def test_phone_number_filter_supports_partial_and_wildcards(twilio_fake):
    for number in ("+14155550100", "+14155550101", "+12125550100"):
        twilio_fake.seed_number(number)
    client = twilio_fake.client()
    assert [n.phone_number for n in client.incoming_phone_numbers.list(phone_number="+14155550101")] == ["+14155550101"]
    assert len(client.incoming_phone_numbers.list(phone_number="555010*")) == 3
    assert len(client.incoming_phone_numbers.list(phone_number="415")) == 2


def test_fail_next_matches_method_and_path_and_counts_down(twilio_fake):
    twilio_fake.seed_number("+14155550100")
    client = twilio_fake.client()
    twilio_fake.fail_next(503, 20503, "Service Unavailable", method="POST", path_contains="/Calls", times=2)
    assert len(client.incoming_phone_numbers.list()) == 1  # GET on numbers: not matched
    for _ in range(2):
        with pytest.raises(TwilioRestException) as error:
            client.calls.create(to="+15551230000", from_="+14155550100", url="https://bot.example/twiml")
        assert (error.value.status, error.value.code) == (503, 20503)
    assert client.calls.create(to="+15551230000", from_="+14155550100", url="https://bot.example/twiml").sid
    assert twilio_fake.failures == []


def test_calls_create_read_update_and_list(twilio_fake):
    held = twilio_fake.seed_number("+14155550100")
    client = twilio_fake.client()
    call = client.calls.create(
        to="+15551230000", from_="+14155550100", url="https://bot.example/twiml",
        status_callback="https://bot.example/status", status_callback_event=["initiated", "completed"],
    )
    assert call.status == "queued" and call.direction == "outbound-api" and call.phone_number_sid == held["sid"]
    assert twilio_fake.call_params[call.sid]["Url"] == "https://bot.example/twiml"
    assert twilio_fake.requests[-1].form["StatusCallbackEvent"] == ["initiated", "completed"]

    twilio_fake.set_call_status(call.sid, "in-progress")
    client.calls(call.sid).update(twiml="<Response><Dial>+15559990000</Dial></Response>")  # a transfer
    assert twilio_fake.call_updates[call.sid][-1]["Twiml"].startswith("<Response><Dial>")
    assert client.calls(call.sid).fetch().status == "in-progress"

    assert client.calls(call.sid).update(status="completed").status == "completed"
    assert client.calls(call.sid).fetch().end_time is not None
    with pytest.raises(TwilioRestException) as error:
        client.calls(call.sid).update(url="https://bot.example/other")
    assert error.value.code == 21220
    assert [c.sid for c in client.calls.list(to="+15551230000")] == [call.sid]
    assert client.calls.list(status="queued") == []


def test_calls_need_to_from_and_instructions(twilio_fake):
    twilio_fake.seed_number("+14155550100")
    client = twilio_fake.client()
    with pytest.raises(TwilioRestException) as error:
        client.calls.create(to="+15551230000", from_="+14155550100")
    assert error.value.code == 21205
    with pytest.raises(TwilioRestException) as error:
        client.calls.create(to="+15551230000", from_="+19995550000", url="https://bot.example/twiml")
    assert error.value.code == 21210


def test_status_callback_is_signed_like_twilios(twilio_fake):
    twilio_fake.seed_number("+14155550100")
    with RecordingServer(auth_token=twilio_fake.auth_token) as receiver:
        call = twilio_fake.client().calls.create(
            to="+15551230000", from_="+14155550100", url="https://bot.example/twiml",
            status_callback=receiver.url("/twilio/status"),
        )
        status, _, _ = twilio_fake.send_status_callback(call.sid, "completed", duration=42)
    assert status == 204
    (got,) = receiver.received
    assert got.signature_valid is True
    assert got.form["CallSid"] == call.sid and got.form["CallStatus"] == "completed"
    assert got.form["CallDuration"] == "42" and got.form["AccountSid"] == twilio_fake.account_sid
    assert twilio_fake.calls[call.sid]["status"] == "completed"


def test_on_call_created_hook_sees_each_call(twilio_fake):
    twilio_fake.seed_number("+14155550100")
    seen = []
    twilio_fake.on_call_created = lambda call, form: seen.append((call["sid"], form["To"]))
    call = twilio_fake.client().calls.create(to="+15551230000", from_="+14155550100", twiml="<Response/>")
    assert seen == [(call.sid, "+15551230000")]


@pytest.mark.off_contract
def test_invalid_voice_method_is_refused(twilio_fake):
    held = twilio_fake.seed_number("+14155550100")
    with pytest.raises(TwilioRestException) as error:
        twilio_fake.client().incoming_phone_numbers(held["sid"]).update(voice_method="PUT")
    assert error.value.status == 400
    assert twilio_fake.numbers[held["sid"]]["voice_method"] == "POST"


def test_available_numbers_search_like_twilio(twilio_fake):
    twilio_fake.add_available("+14155550100")
    twilio_fake.add_available("+14155557867")  # ...-STOP on a keypad
    twilio_fake.add_available("+12125550100", capabilities={"voice": False, "sms": True, "mms": False, "fax": False})
    local = twilio_fake.client().available_phone_numbers("US").local
    assert [n.phone_number for n in local.list(contains="555****")] == ["+14155550100", "+14155557867", "+12125550100"]
    assert [n.phone_number for n in local.list(contains="STOP")] == ["+14155557867"]
    assert [n.phone_number for n in local.list(area_code=212)] == ["+12125550100"]
    assert len(local.list(voice_enabled=True)) == 2
    with pytest.raises(TwilioException, match="HTTP 400"):  # list pages raise the SDK's base exception
        local.list(contains="+14155550100")  # Twilio takes no '+' in a pattern


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_ring_requests_the_numbers_voice_url_signed(twilio_fake, method):
    twiml = b'<Response><Connect><Stream url="wss://runner.example/twilio/stream"/></Connect></Response>'
    with RecordingServer(auth_token=twilio_fake.auth_token, status=200, response_body=twiml) as app:
        twilio_fake.seed_number("+14155550100", voice_url=app.url("/twilio/voice"), voice_method=method)
        sid, (status, _, body) = twilio_fake.ring("+14155550100", from_="+15551230000")
    assert (status, body) == (200, twiml)
    (got,) = app.received
    assert got.method == method and got.signature_valid is True
    params = got.form if method == "POST" else {
        k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(got.url).query).items()}
    assert params["CallSid"] == sid and params["From"] == "+15551230000" and params["Direction"] == "inbound"
    assert twilio_fake.calls[sid]["direction"] == "inbound" and twilio_fake.calls[sid]["status"] == "ringing"


def test_answer_fetches_an_outbound_calls_twiml(twilio_fake):
    twilio_fake.seed_number("+14155550100")
    client = twilio_fake.client()
    with RecordingServer(auth_token=twilio_fake.auth_token, status=200, response_body=b"<Response/>") as app:
        call = client.calls.create(to="+15551230000", from_="+14155550100", url=app.url("/twilio/voice?agent=a"))
        status, _, body = twilio_fake.answer(call.sid)
    assert (status, body) == (200, b"<Response/>")
    (got,) = app.received
    assert got.signature_valid and got.form["CallStatus"] == "in-progress" and got.form["Direction"] == "outbound-api"
    assert twilio_fake.calls[call.sid]["status"] == "in-progress"

    inline = client.calls.create(to="+15551230000", from_="+14155550100", twiml="<Response><Say>hi</Say></Response>")
    assert twilio_fake.answer(inline.sid) == (200, {}, b"<Response><Say>hi</Say></Response>")
