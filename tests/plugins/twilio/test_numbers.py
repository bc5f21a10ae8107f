"""TwilioNumbers driven through the real twilio SDK over HTTP against the stateful fake."""

from __future__ import annotations

import logging
import socket
from importlib.metadata import entry_points

import pytest

from cb.plugins.twilio.numbers import TwilioNumbers
from cb.providers.base import DesiredNumber, NumberProvider, ObservedNumber, ProviderError

NUMBER = "+14155550100"
VOICE = "https://runner.example/twilio/voice"
STATUS = "https://runner.example/twilio/status"


@pytest.fixture
def provider(twilio_fake):
    return TwilioNumbers(environ=twilio_fake.env(), retry_delay=0)


def desired(number=NUMBER, **kw):
    kw.setdefault("voice_url", VOICE)
    kw.setdefault("status_callback", STATUS)
    kw.setdefault("friendly_name", "cb front-desk")
    return DesiredNumber(number=number, **kw)


def test_entry_point_loads_a_number_provider():
    found = {ep.name: ep for ep in entry_points(group="cb.number_providers")}
    assert "twilio" in found
    cls = found["twilio"].load()
    assert cls is TwilioNumbers
    assert isinstance(cls(environ={}), NumberProvider)


def test_read_absent_number_is_none(provider, twilio_fake):
    twilio_fake.seed_number("+14155550199")
    assert provider.read(NUMBER) is None
    assert twilio_fake.requests[-1].param("PhoneNumber") == NUMBER


def test_read_returns_what_the_account_holds(provider, twilio_fake):
    seeded = twilio_fake.seed_number(NUMBER, voice_url="https://old.example/v", voice_method="GET", friendly_name="Old")
    twilio_fake.seed_number("+14155550101")
    assert provider.read(NUMBER) == ObservedNumber(
        number=NUMBER, sid=seeded["sid"], voice_url="https://old.example/v", voice_method="GET",
        status_callback=None, friendly_name="Old",
    )


def test_update_sets_the_managed_fields_and_leaves_the_rest(provider, twilio_fake):
    seeded = twilio_fake.seed_number(NUMBER, voice_url="https://old.example/v", sms_url="https://sms.example/keep")
    observed = provider.read(NUMBER)
    result = provider.update(observed, desired(voice_method="post"))
    assert result == ObservedNumber(NUMBER, seeded["sid"], VOICE, "POST", STATUS, "cb front-desk")
    held = twilio_fake.numbers[seeded["sid"]]
    assert (held["voice_url"], held["status_callback"], held["friendly_name"]) == (VOICE, STATUS, "cb front-desk")
    assert held["sms_url"] == "https://sms.example/keep"
    (request,) = twilio_fake.requests_for("POST IncomingPhoneNumbers/{Sid}")
    assert set(request.form) == {"VoiceUrl", "VoiceMethod", "StatusCallback", "FriendlyName"}
    assert request.param("VoiceMethod") == "POST"


def test_update_clears_status_callback_and_keeps_an_unmanaged_name(provider, twilio_fake):
    seeded = twilio_fake.seed_number(NUMBER, status_callback="https://old.example/s", friendly_name="Owner's name")
    result = provider.update(provider.read(NUMBER), desired(status_callback=None, friendly_name=None))
    assert result.status_callback is None and result.friendly_name == "Owner's name"
    assert twilio_fake.numbers[seeded["sid"]]["status_callback"] == ""
    assert "FriendlyName" not in twilio_fake.requests_for("POST IncomingPhoneNumbers/{Sid}")[0].form


def test_update_without_sid_looks_the_number_up(provider, twilio_fake):
    seeded = twilio_fake.seed_number(NUMBER)
    provider.update(ObservedNumber(number=NUMBER), desired())
    assert twilio_fake.numbers[seeded["sid"]]["voice_url"] == VOICE


def test_update_of_a_number_released_elsewhere_says_replan(provider, twilio_fake):
    seeded = twilio_fake.seed_number(NUMBER)
    observed = provider.read(NUMBER)
    del twilio_fake.numbers[seeded["sid"]]
    with pytest.raises(ProviderError, match=r"HTTP 404.*cb plan"):
        provider.update(observed, desired())


def test_create_imports_a_number_the_account_already_holds(provider, twilio_fake):
    seeded = twilio_fake.seed_number(NUMBER, voice_url="https://old.example/v")
    result = provider.create(desired(purchase=False))
    assert result.sid == seeded["sid"] and result.voice_url == VOICE
    assert twilio_fake.requests_for("POST IncomingPhoneNumbers") == []
    assert twilio_fake.requests_for("GET AvailablePhoneNumbers/{CountryCode}/Local") == []


def test_create_refuses_to_buy_without_purchase(provider, twilio_fake):
    twilio_fake.add_available(NUMBER)
    with pytest.raises(ProviderError) as error:
        provider.create(desired(purchase=False))
    message = str(error.value)
    assert NUMBER in message and twilio_fake.account_sid in message and "purchase: true" in message
    assert twilio_fake.requests_for("POST IncomingPhoneNumbers") == []
    assert twilio_fake.numbers == {}


def test_create_buys_an_available_number_when_told_to(provider, twilio_fake):
    twilio_fake.add_available(NUMBER)
    result = provider.create(desired(purchase=True))
    held = twilio_fake.find_number(NUMBER)
    assert held is not None and result.sid == held["sid"]
    assert (held["voice_url"], held["status_callback"], held["friendly_name"]) == (VOICE, STATUS, "cb front-desk")
    assert twilio_fake.available["US"] == []
    (search,) = twilio_fake.requests_for("GET AvailablePhoneNumbers/{CountryCode}/Local")
    assert search.path.endswith("/AvailablePhoneNumbers/US/Local.json")
    assert (search.param("Contains"), search.param("VoiceEnabled")) == ("4155550100", "true")  # digits only
    (buy,) = twilio_fake.requests_for("POST IncomingPhoneNumbers")
    assert buy.param("PhoneNumber") == NUMBER and buy.param("VoiceUrl") == VOICE


def test_purchase_searches_the_country_of_the_number(twilio_fake):
    twilio_fake.add_available("+442071838750", country="GB")
    provider = TwilioNumbers(environ=twilio_fake.env())
    provider.create(desired("+442071838750", purchase=True))
    assert twilio_fake.find_number("+442071838750") is not None
    (search,) = twilio_fake.requests_for("GET AvailablePhoneNumbers/{CountryCode}/Local")
    assert "/AvailablePhoneNumbers/GB/" in search.path and search.param("Contains") == "2071838750"


def test_country_setting_overrides_the_prefix_guess(twilio_fake):
    twilio_fake.add_available("+16135550123", country="CA")
    provider = TwilioNumbers(environ=twilio_fake.env(), country="ca")
    provider.create(desired("+16135550123", purchase=True))
    (search,) = twilio_fake.requests_for("GET AvailablePhoneNumbers/{CountryCode}/Local")
    assert "/AvailablePhoneNumbers/CA/" in search.path and search.param("Contains") == "6135550123"


def test_unknown_country_asks_for_the_setting(provider, twilio_fake):
    with pytest.raises(ProviderError, match=r"which country.*`country` setting"):
        provider.create(desired("+5511955550123", purchase=True))


def test_purchase_of_an_unavailable_number_fails_clearly(provider, twilio_fake):
    twilio_fake.add_available("+14155550111")
    with pytest.raises(ProviderError, match=r"not available to buy.*Fix"):
        provider.create(desired(purchase=True))
    assert twilio_fake.requests_for("POST IncomingPhoneNumbers") == []


def test_purchase_lost_to_someone_else_reports_twilios_error(provider, twilio_fake):
    twilio_fake.add_available(NUMBER)
    twilio_fake.fail_next(400, 21422, "PhoneNumber Requested is Not Available", method="POST",
                          path_contains="IncomingPhoneNumbers")
    with pytest.raises(ProviderError) as error:
        provider.create(desired(purchase=True))
    message = str(error.value)
    assert "buy " + NUMBER in message and "error 21422" in message and "docs/errors/21422" in message
    assert "\033[" not in message  # no SDK terminal colours


def test_delete_releases_the_number(provider, twilio_fake):
    twilio_fake.seed_number(NUMBER)
    provider.delete(provider.read(NUMBER))
    assert twilio_fake.numbers == {}
    assert len(twilio_fake.requests_for("DELETE IncomingPhoneNumbers/{Sid}")) == 1


def test_delete_of_an_already_released_number_is_done(provider, twilio_fake):
    provider.delete(ObservedNumber(number=NUMBER, sid="PN" + "a" * 32))
    provider.delete(ObservedNumber(number=NUMBER))
    assert twilio_fake.requests_for("DELETE IncomingPhoneNumbers/{Sid}")[0].status == 404
    assert len(twilio_fake.requests_for("DELETE IncomingPhoneNumbers/{Sid}")) == 1


def test_api_key_credentials(twilio_fake):
    key, secret = twilio_fake.add_api_key()
    env = {"TWILIO_ACCOUNT_SID": twilio_fake.account_sid, "TWILIO_API_KEY": key, "TWILIO_API_SECRET": secret}
    twilio_fake.seed_number(NUMBER)
    provider = TwilioNumbers(environ=env, api_base_url=twilio_fake.base_url)
    assert provider.read(NUMBER) is not None
    assert twilio_fake.requests[-1].username == key


def test_rate_limit_is_retried_then_succeeds(provider, twilio_fake):
    twilio_fake.seed_number(NUMBER)
    twilio_fake.fail_next(429, 20429, "Too Many Requests", times=2)
    assert provider.read(NUMBER) is not None
    assert [r.status for r in twilio_fake.requests] == [429, 429, 200]


def test_rate_limit_that_persists_becomes_a_clear_error(twilio_fake):
    provider = TwilioNumbers(environ=twilio_fake.env(), max_retries=1, retry_delay=0)
    twilio_fake.fail_next(429, 20429, "Too Many Requests", times=5)
    with pytest.raises(ProviderError, match=r"rate-limiting.*2 attempt.*Fix: wait"):
        provider.read(NUMBER)
    assert len(twilio_fake.requests) == 2


@pytest.mark.parametrize("env_change, needle", [
    ({"TWILIO_ACCOUNT_SID": ""}, "TWILIO_ACCOUNT_SID is not set"),
    ({"TWILIO_AUTH_TOKEN": ""}, "TWILIO_AUTH_TOKEN is not set"),
    ({"TWILIO_ACCOUNT_SID": "SK" + "0" * 32}, "put it in TWILIO_API_KEY"),
    ({"TWILIO_API_KEY": "SK" + "0" * 32}, "TWILIO_API_SECRET is not set"),
])
def test_missing_or_wrong_credentials_name_the_variable(twilio_fake, env_change, needle):
    provider = TwilioNumbers(environ={**twilio_fake.env(), **env_change})
    with pytest.raises(ProviderError, match="Fix") as error:
        provider.read(NUMBER)
    assert needle in str(error.value)
    assert twilio_fake.requests == []


def test_unknown_setting_is_refused():
    with pytest.raises(ProviderError, match=r"unknown setting.*auth_tokn.*Fix"):
        TwilioNumbers(auth_tokn="x")


@pytest.mark.parametrize("setting", [{"timeout": "soon"}, {"max_retries": -1}, {"retry_delay": None, "timeout": 0}])
def test_bad_numeric_setting_is_named(setting):
    with pytest.raises(ProviderError, match=r"`(timeout|max_retries)` setting is .*Fix: give a number"):
        TwilioNumbers(**setting)


def test_numeric_settings_may_be_text():
    provider = TwilioNumbers(timeout="2.5", max_retries="1", retry_delay="0")
    assert (provider.timeout, provider.max_retries, provider.retry_delay) == (2.5, 1, 0.0)


def test_unreachable_api_is_a_clear_error(twilio_fake):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = TwilioNumbers(environ={**twilio_fake.env(), "TWILIO_API_BASE_URL": f"http://127.0.0.1:{port}"}, timeout=2)
    with pytest.raises(ProviderError, match=r"could not reach Twilio at http://127.0.0.1:\d+.*TWILIO_API_BASE_URL"):
        provider.read(NUMBER)


def test_auth_failure_is_clear_and_the_token_appears_nowhere(twilio_fake, caplog):
    """Wrong token, right token: the secrets never reach an exception, a repr or a log line."""
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-token-" + twilio_fake.auth_token[::-1]
    bad = TwilioNumbers(environ={**twilio_fake.env(), "TWILIO_AUTH_TOKEN": wrong})
    with pytest.raises(ProviderError) as error:
        bad.read(NUMBER)
    auth_message = str(error.value)
    assert "rejected the credentials" in auth_message and "error 20003" in auth_message
    assert twilio_fake.requests[-1].authorized is False

    good = TwilioNumbers(environ=twilio_fake.env(), retry_delay=0)
    twilio_fake.add_available(NUMBER)
    messages = [auth_message, repr(bad), repr(good)]
    observed = good.create(desired(purchase=True))
    good.update(observed, desired(voice_url="https://other.example/v"))
    twilio_fake.fail_next(500, 20500, "boom")
    with pytest.raises(ProviderError) as error:
        good.read(NUMBER)
    messages.append(str(error.value))
    good.delete(observed)
    assert twilio_fake.numbers == {}
    assert any(r.name.startswith("twilio") for r in caplog.records)  # the SDK's own logging was captured
    text = "\n".join(messages) + caplog.text
    for secret in (twilio_fake.auth_token, wrong):
        assert secret not in text


def test_redaction_catches_a_token_echoed_by_the_server(twilio_fake):
    """Even if an error body quoted the token back, the ProviderError would not carry it."""
    provider = TwilioNumbers(environ=twilio_fake.env(), retry_delay=0)
    twilio_fake.fail_next(400, 20001, f"bad value {twilio_fake.auth_token}")
    with pytest.raises(ProviderError) as error:
        provider.read(NUMBER)
    assert twilio_fake.auth_token not in str(error.value) and "[redacted]" in str(error.value)
    assert error.value.__cause__ is None and error.value.__suppress_context__


def test_region_and_edge_do_not_redirect_a_chosen_base_url(twilio_fake):
    env = {**twilio_fake.env(), "TWILIO_REGION": "au1", "TWILIO_EDGE": "sydney"}
    twilio_fake.seed_number(NUMBER)
    assert TwilioNumbers(environ=env).read(NUMBER) is not None


def test_region_and_edge_apply_to_twilios_own_host():
    env = {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "t", "TWILIO_REGION": "au1", "TWILIO_EDGE": "sydney"}
    client = TwilioNumbers(environ=env).client
    assert client.get_hostname("https://api.twilio.com/2010-04-01/x") == "https://api.sydney.au1.twilio.com/2010-04-01/x"
