"""The control plane finds the Twilio provider the way it finds every provider: the entry point."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cb.plugins.twilio.numbers import TwilioNumbers
from cb.providers.base import ProviderError
from cb.providers.registry import ProviderRegistry, desired_number, differences

SETTINGS = SimpleNamespace(voice_url="http://127.0.0.1:8750/twilio/voice",
                           status_callback_url="http://127.0.0.1:8750/twilio/status")
DOC = {"kind": "Number", "metadata": {"name": "main"}, "spec": {"number": "+14155550100", "purchase": False}}


def test_registry_loads_twilio_from_the_environment_and_applies_a_number(twilio_fake, monkeypatch):
    for name, value in twilio_fake.env().items():
        monkeypatch.setenv(name, value)
    seeded = twilio_fake.seed_number("+14155550100", voice_url="https://elsewhere.example/voice")
    provider = ProviderRegistry(SETTINGS).get("twilio")
    assert isinstance(provider, TwilioNumbers) and ProviderRegistry.is_external(provider)

    desired = desired_number(DOC, SETTINGS)
    have = provider.read(desired.number)
    assert set(differences(have, desired)) == {"voice_url", "status_callback", "friendly_name"}
    provider.update(have, desired)
    assert differences(provider.read(desired.number), desired) == {}
    assert twilio_fake.numbers[seeded["sid"]]["voice_url"] == SETTINGS.voice_url


def test_settings_may_carry_a_twilio_mapping(twilio_fake):
    env = twilio_fake.env()
    settings = SimpleNamespace(twilio={"account_sid": env["TWILIO_ACCOUNT_SID"], "auth_token": env["TWILIO_AUTH_TOKEN"],
                                       "api_base_url": twilio_fake.base_url, "environ": {}})
    provider = TwilioNumbers.from_settings(settings)
    assert provider.read("+14155550100") is None
    assert twilio_fake.requests[-1].authorized


def test_missing_credentials_surface_on_use_not_on_load(monkeypatch):
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_KEY", "TWILIO_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    provider = ProviderRegistry(SETTINGS).get("twilio")
    with pytest.raises(ProviderError, match="TWILIO_ACCOUNT_SID is not set"):
        provider.read("+14155550100")
