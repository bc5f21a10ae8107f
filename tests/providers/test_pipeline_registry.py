"""Providers are entry-point plugins; a missing SDK or key is a clear message, never a traceback."""

from __future__ import annotations

import pytest

from cb.providers import PartSpec, ProviderUnavailable
from cb.providers import pipeline as providers


def test_every_builtin_provider_is_registered_through_entry_points():
    found, broken = providers.registry()
    names = {(kind, name) for kind, name in found}
    assert {("stt", "whisper"), ("tts", "piper"), ("llm", "scripted"), ("llm", "openai"), ("llm", "llama"),
            ("llm", "groq"), ("stt", "deepgram"), ("tts", "cartesia")} <= names
    assert broken == {}


def test_profiles_fill_what_the_agent_does_not_set():
    parts = providers.resolve({"llm": {"provider": "openai", "model": "m", "options": {"base_url": "http://127.0.0.1:1/v1"}}},
                              "local")
    assert parts["stt"] == PartSpec("whisper") and parts["tts"] == PartSpec("piper")
    assert parts["llm"] == PartSpec("openai", "m", {"base_url": "http://127.0.0.1:1/v1"})
    assert providers.resolve({"profile": "cloud"}, "local")["llm"] == PartSpec("groq", "llama-3.3-70b-versatile")


def test_unknown_profile_and_provider_are_named():
    with pytest.raises(ProviderUnavailable, match="unknown pipeline profile 'fast'; use one of local, scripted, cloud"):
        providers.resolve({"profile": "fast"}, "local")
    with pytest.raises(ProviderUnavailable, match="no tts provider named 'espeak'; installed: .*piper"):
        providers.create("tts", PartSpec("espeak"), providers.CallAudio())


def test_a_missing_sdk_gives_the_exact_install_command():
    with pytest.raises(ProviderUnavailable, match=r"run: pip install 'cb\[cloud\]'  \(or: pip install nope-sdk\)"):
        providers.require("surely_not_installed_module", "cloud", "nope-sdk")


def test_secrets_are_references_to_the_environment(monkeypatch):
    monkeypatch.setenv("MY_KEY", "s3cret")
    assert providers.secret({"api_key": "${env:MY_KEY}"}, "api_key", "DEFAULT_KEY") == "s3cret"
    with pytest.raises(ProviderUnavailable, match="must be a reference"):
        providers.secret({"api_key": "s3cret"}, "api_key", "DEFAULT_KEY")
    monkeypatch.delenv("DEEPGRAM_API_KEY", raising=False)
    with pytest.raises(ProviderUnavailable, match="DEEPGRAM_API_KEY is not set on the runner"):
        providers.create("stt", PartSpec("deepgram"), providers.CallAudio())


def test_cloud_providers_build_their_pipecat_services(monkeypatch):
    for var in ("DEEPGRAM_API_KEY", "GROQ_API_KEY", "CARTESIA_API_KEY"):
        monkeypatch.setenv(var, "test-key")
    audio = providers.CallAudio(voice="voice-id-1")
    assert type(providers.create("stt", PartSpec("deepgram", "nova-3"), audio)).__name__ == "DeepgramSTTService"
    assert type(providers.create("llm", PartSpec("groq"), audio)).__name__ == "GroqLLMService"
    assert type(providers.create("tts", PartSpec("cartesia"), audio)).__name__ == "CartesiaTTSService"
    with pytest.raises(ProviderUnavailable, match="cartesia needs a voice"):
        providers.create("tts", PartSpec("cartesia"), providers.CallAudio())
