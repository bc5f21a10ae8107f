"""cb validate checks providers, profiles and languages against what is installed, and voices and
models against the provider's catalogue, with a "did you mean"."""

from __future__ import annotations

import time
from pathlib import Path

from cb.config.project import load_project

ROOT = Path(__file__).resolve().parents[2]


def diags_for(tmp_path: Path, spec: str) -> list:
    (tmp_path / "agents").mkdir(exist_ok=True)
    (tmp_path / "agents" / "a.yaml").write_text(
        "apiVersion: cb/v1\nkind: Agent\nmetadata: {name: a}\nspec:\n  instructions: hi\n" + spec)
    _, diags = load_project(None, cwd=tmp_path)
    return [d for d in diags if d.severity == "error"]


def test_an_unknown_llm_provider_is_named_with_what_is_installed(tmp_path):
    [d] = diags_for(tmp_path, "  pipeline:\n    llm: {provider: gpt-9000}\n")
    assert (d.code, d.line) == ("CB303", 7)
    assert "no llm provider named 'gpt-9000' is installed" in d.message and "groq" in d.hint and "openai" in d.hint


def test_a_fallback_provider_is_checked_like_the_primary(tmp_path):
    """Issue 18.6: a declared fallback must name an installed provider and a model it serves."""
    [d] = diags_for(tmp_path, "  pipeline:\n    llm:\n      provider: openai\n      fallback: {provider: grok}\n")
    assert (d.code, d.line) == ("CB303", 9)
    assert "pipeline.llm.fallback.provider: no llm provider named 'grok'" in d.message and d.hint.startswith("did you mean 'groq'?")
    [d] = diags_for(tmp_path, "  pipeline:\n    llm:\n      provider: openai\n"
                              "      fallback: {provider: groq, model: llama-9}\n")
    assert d.code == "CB305" and "pipeline.llm.fallback.model: groq has no model named 'llama-9'" in d.message
    assert not diags_for(tmp_path, "  pipeline:\n    tts:\n      provider: cartesia\n      fallback: {provider: piper}\n")


def test_a_typo_in_a_provider_gets_did_you_mean(tmp_path):
    [d] = diags_for(tmp_path, "  pipeline:\n    stt: {provider: deepgramm}\n")
    assert d.code == "CB303" and d.hint.startswith("did you mean 'deepgram'?")


def test_an_unknown_profile(tmp_path):
    [d] = diags_for(tmp_path, "  pipeline: {profile: turbo}\n")
    assert d.code == "CB304" and "no profile named 'turbo'" in d.message and "cloud" in d.hint


def test_languages(tmp_path):
    [d] = diags_for(tmp_path, "  language: klingon\n")
    assert d.code == "CB306" and "'klingon' is not a language tag" in d.message
    [d] = diags_for(tmp_path, "  language: de-DE\n")  # the local profile's models speak English only
    assert d.code == "CB306" and "speaks en only" in d.message
    assert diags_for(tmp_path, "  language: de-DE\n  pipeline: {profile: cloud}\n") == []
    assert diags_for(tmp_path, "  language: en-GB\n") == []


def test_voices_of_the_default_tts_come_from_the_installed_piper_packages(tmp_path):
    [d] = diags_for(tmp_path, "  voice: sonic-en-us-warm\n")
    assert d.code == "CB305" and "piper (this agent's TTS) has no voice named 'sonic-en-us-warm'" in d.message
    assert "en_US-joe-medium" in d.hint
    [d] = diags_for(tmp_path, "  voice: en_US-joe-mediun\n")
    assert d.hint.startswith("did you mean 'en_US-joe-medium'?")
    assert diags_for(tmp_path, "  voice: joe\n") == []
    # a cloud TTS without a voice catalogue takes the voice id as given
    assert diags_for(tmp_path, "  voice: sonic-en-us-warm\n  pipeline: {profile: cloud}\n") == []


def test_cloud_models_come_from_the_pinned_catalogue(tmp_path):
    [d] = diags_for(tmp_path, "  pipeline:\n    profile: cloud\n    llm: {provider: groq, model: llama-3.3-70b-versatil}\n")
    assert d.code == "CB305" and "groq has no model named" in d.message
    assert d.hint.startswith("did you mean 'llama-3.3-70b-versatile'?")
    assert diags_for(tmp_path, "  pipeline:\n    stt: {provider: deepgram, model: nova-3}\n") == []


def test_the_shipped_fleet_and_examples_pass_these_checks_and_validate_stays_fast():
    started = time.monotonic()
    for folder in (ROOT, *(p for p in (ROOT / "examples").iterdir() if (p / "cb.yaml").is_file())):
        _, diags = load_project(None, cwd=folder)
        assert not [d for d in diags if d.code in ("CB303", "CB304", "CB305", "CB306")], (folder, diags)
    assert time.monotonic() - started < 5


def test_no_media_engine_is_imported_to_validate():
    import subprocess
    import sys

    code = ("import sys; from cb.config.project import load_project; load_project(None, cwd=sys.argv[1]); "
            "print(any(m.split('.')[0] == 'pipecat' for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def _project_with_default(tmp_path: Path, profile: str) -> list:
    (tmp_path / "cb.yaml").write_text(f"apiVersion: cb/v1\nkind: Project\nname: p\npaths: [agents]\n"
                                      f"defaults:\n  profile: {profile}\n")
    return diags_for(tmp_path, "  greeting: hi\n")


def test_the_project_default_profile_is_any_registered_profile(tmp_path):
    """Issue 11: cb.yaml's defaults.profile took only local and cloud while `scripted` is registered;
    the catalogue (the registry's PROFILES) is now the one judge, as for an agent's pipeline.profile."""
    from cb.providers.pipeline import PROFILES

    assert "scripted" in PROFILES
    for name in PROFILES:
        assert _project_with_default(tmp_path, name) == [], name
    [d] = _project_with_default(tmp_path, "scriptd")
    assert (d.code, d.file, d.line) == ("CB304", "cb.yaml", 6)  # named once, where cb.yaml says it
    assert "defaults.profile: no profile named 'scriptd'" in d.message and d.hint.startswith("did you mean 'scripted'?")
