"""cb.lock: what a configuration resolved to, committed beside it.

Resolves voice and model names to provider ids (a static table for the names cb knows; other
names are pinned as given), pins the versions of cb, the schema and the plugins the project uses,
and records each resource's content hash as last planned. Sorted keys and one entry per line, so
a pull request's diff of cb.lock shows exactly which resources change. ``--locked`` makes plan and
apply fail when the configuration no longer matches it.
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from cb.config.models import API_VERSION, KINDS
from cb.state.canonical import content_hash

LOCK_FILE = "cb.lock"
LOCK_VERSION = 1

#: voice name -> (provider, id) for the voices cb ships or knows; any other name is pinned as given
#: (a cloud voice id is already an id) under the agent's TTS provider.
VOICES: dict[str, tuple[str, str]] = {
    "en_US-joe-medium": ("piper", "en_US-joe-medium"),
    "joe": ("piper", "en_US-joe-medium"),
}
#: The TTS plugin a pipeline profile uses when an agent names none.
PROFILE_TTS = {"local": "piper", "cloud": "cartesia"}
#: model name -> (provider, id).
MODELS: dict[str, tuple[str, str]] = {
    "tiny.en": ("whisper", "Systran/faster-whisper-tiny.en"),
    "smollm2-135m": ("llama-cpp", "SmolLM2-135M-Instruct-Q8_0.gguf"),
    "gemma3-270m": ("llama-cpp", "gemma-3-270m-it-Q4_K_M.gguf"),
    "llama-3.1-8b-instant": ("groq", "llama-3.1-8b-instant"),
    "nova-3": ("deepgram", "nova-3"),
}
#: plugin / provider name -> the distribution whose version is pinned.
DISTRIBUTIONS = {"twilio": "twilio", "deepgram": "deepgram-sdk", "groq": "groq", "cartesia": "cartesia",
                 "piper": "piper-tts", "whisper": "faster-whisper", "openai": "openai"}


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def compute_lock(project: Any, hashes: dict[str, str] | None = None) -> dict[str, Any]:
    """The lock for ``project``; ``hashes`` (address -> content hash) saves hashing twice when known."""
    voices: dict[str, Any] = {}
    models: dict[str, Any] = {}
    plugins: dict[str, str] = {"cb": _version("cb")}
    resources: dict[str, str] = {}
    for address, r in project.resources.items():
        resources[address] = hashes[address] if hashes is not None else content_hash(r.canonical())
        spec = r.spec
        if r.kind == "Agent":
            if spec.voice:
                profile = spec.pipeline.profile or project.settings.defaults.profile
                tts = spec.pipeline.tts.provider if spec.pipeline.tts else PROFILE_TTS.get(profile)
                if spec.voice in VOICES:
                    provider, vid = VOICES[spec.voice]
                    voices[spec.voice] = {"provider": provider, "id": vid}
                else:
                    voices[spec.voice] = {"provider": tts, "id": spec.voice, "as_given": True}
            declared = [p for p in (spec.pipeline.stt, spec.pipeline.llm, spec.pipeline.tts) if p is not None]
            for part in declared + [p.fallback for p in declared if p.fallback is not None]:
                if part is None:
                    continue
                if part.provider in DISTRIBUTIONS:
                    plugins[part.provider] = _version(DISTRIBUTIONS[part.provider])
                if part.model:
                    provider, mid = MODELS.get(part.model, (part.provider, part.model))
                    models[part.model] = {"provider": provider, "id": mid}
        elif r.kind == "Number" and spec.provider in DISTRIBUTIONS:
            plugins[spec.provider] = _version(DISTRIBUTIONS[spec.provider])
    if any(r.kind == "Agent" for r in project.resources.values()):
        plugins["pipecat-ai"] = _version("pipecat-ai")
    schemas = {API_VERSION: content_hash({k: m.model_json_schema(by_alias=True) for k, m in sorted(KINDS.items())})}
    return {"version": LOCK_VERSION, "schemas": schemas, "plugins": plugins, "voices": voices, "models": models,
            "resources": resources}


def dumps(lock: dict[str, Any]) -> str:
    return json.dumps(lock, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def read(root: Path) -> dict[str, Any] | None:
    path = root / LOCK_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def mismatches(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """Human lines naming each entry that differs; empty when the lock matches."""
    if old is None:
        return ["cb.lock does not exist"]
    out = []
    for section in sorted(set(old) | set(new)):
        a, b = old.get(section), new.get(section)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                if a.get(key) != b.get(key):
                    what = "added" if key not in a else "removed" if key not in b else "changed"
                    out.append(f"{section}.{key} {what}")
        else:
            out.append(f"{section} changed")
    return out


def write_if_changed(root: Path, lock: dict[str, Any]) -> bool:
    path = root / LOCK_FILE
    text = dumps(lock)
    if path.is_file() and path.read_text() == text:
        return False
    path.write_text(text)
    return True
