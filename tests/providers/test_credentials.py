"""Which environment variables an agent's providers need on the runner (names only), per provider."""

from __future__ import annotations

from cb.providers.credentials import needs, report

CLOUD = {"stt": {"provider": "deepgram", "model": "nova-3"}, "llm": {"provider": "groq"},
         "tts": {"provider": "cartesia", "options": {"voice_id": "v"}}}
KEYS = ["DEEPGRAM_API_KEY", "GROQ_API_KEY", "CARTESIA_API_KEY"]


def test_deepgram_groq_and_cartesia_need_their_keys_and_say_which_are_missing():
    assert report(CLOUD, "local", env={}) == {"needs": KEYS, "missing": KEYS}
    assert report(CLOUD, "local", env={"GROQ_API_KEY": "x", "DEEPGRAM_API_KEY": ""}) == {
        "needs": KEYS, "missing": ["DEEPGRAM_API_KEY", "CARTESIA_API_KEY"]}  # empty counts as unset
    assert report({"profile": "cloud"}, "local", env={})["missing"] == KEYS
    assert report({}, "cloud", env={})["missing"] == KEYS  # the runner's default profile decides
    assert report({}, "local", env={}) == {"needs": [], "missing": []}
    assert report({}, "scripted", env={}) == {"needs": [], "missing": []}


def test_the_variable_an_api_key_reference_names_is_the_one_needed():
    pipeline = {"stt": {"provider": "deepgram", "options": {"api_key": "${env:DG_KEY}"}},
                "llm": {"provider": "openai", "options": {"api_key": "${env:OPENAI_PROD}"}}}
    assert needs(pipeline, "local") == {"stt": ["DG_KEY"], "llm": ["OPENAI_PROD"]}
    assert needs({"llm": {"provider": "openai"}}, "local") == {"llm": ["OPENAI_API_KEY"]}
    # An endpoint on this machine needs no key, named or not.
    local = {"llm": {"provider": "openai", "options": {"base_url": "http://127.0.0.1:9/v1", "api_key": "${env:K}"}}}
    assert needs(local, "local") == {}


def test_a_provider_that_declares_nothing_needs_the_references_in_its_options():
    pipeline = {"stt": {"provider": "whisper", "options": {"extra": {"token": "Bearer ${env:WHISPER_TOKEN}"}}}}
    assert needs(pipeline, "local") == {"stt": ["WHISPER_TOKEN"]}


def test_what_does_not_exist_needs_nothing_here():
    assert needs({"profile": "turbo"}, "local") == {}  # cb validate names the profile
    assert needs({"stt": {"provider": "gpt-9000"}}, "local") == {}
