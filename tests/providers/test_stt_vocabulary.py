"""Issue 18.5: the agent's names and terms reach the STT as hints: Whisper's initial prompt,
Deepgram Nova-3's keyterms. Whisper heard "Acme Dental" as "acne dental" / "that me dental";
with the prompt it hears it (bench/stt_vocabulary.py measures 1 in 5 lines before, 5 in 5 after)."""

from __future__ import annotations

import numpy as np
import pytest

from cb.providers import pipeline as providers
from cb.providers.pipeline import PartSpec


def test_vocabulary_is_the_declared_terms_then_the_contexts_short_strings():
    context = {"business_name": "Acme Dental", "customer": {"first_name": "Maria"}, "open": True,
               "policy": "We never book more than two weeks ahead and always confirm by text message.",
               "greeting_note": "{{ not a name }}"}
    assert providers.vocabulary(["Invisalign", "acme dental"], context) == ("Invisalign", "acme dental", "Maria")
    assert providers.vocabulary_prompt(("Acme Dental", "Maria")) == "Acme Dental, Maria."
    assert providers.vocabulary_prompt(()) is None


def test_whisper_gets_the_vocabulary_as_its_prompt():
    audio = providers.CallAudio(vocabulary=("Acme Dental",))
    stt = providers.create("stt", PartSpec("whisper"), audio)
    assert stt._settings.initial_prompt == "Acme Dental."
    assert providers.create("stt", PartSpec("whisper"), providers.CallAudio())._settings.initial_prompt is None


def test_deepgram_nova_3_gets_the_vocabulary_as_keyterms(monkeypatch):
    monkeypatch.setenv("DEEPGRAM_API_KEY", "test-key")
    audio = providers.CallAudio(vocabulary=("Acme Dental", "Maria"))
    assert providers.create("stt", PartSpec("deepgram", "nova-3"), audio)._settings.keyterm == ["Acme Dental", "Maria"]


def test_whisper_hears_the_business_name_on_the_phone_with_the_prompt():
    pytest.importorskip("piper")
    from cb.plugins.local import speech, whisper

    model = whisper.Greedy(whisper.shared_model(whisper.bundled_model_path()), 1)
    heard = []
    for _ in range(3):  # Piper samples its voice: each synthesis differs a little, and so may Whisper
        pcm = speech.ulaw_decode(speech.ulaw_encode(speech.synthesize("Hello Acme Dental I need an appointment.")))
        audio = np.frombuffer(whisper.to_16k(pcm, 8000), dtype=np.int16).astype(np.float32) / 32768.0
        segments, _ = model.transcribe(audio, language="en", vad_filter=False,
                                       initial_prompt=providers.vocabulary_prompt(("Acme Dental",)))
        heard.append(" ".join(s.text for s in segments).lower())
    assert sum("acme dental" in h for h in heard) >= 2, heard
