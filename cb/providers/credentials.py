"""Which environment variables an agent's pipeline needs on the runner, and which are not set.

A call on Deepgram, Groq and Cartesia needs DEEPGRAM_API_KEY, GROQ_API_KEY and CARTESIA_API_KEY
(or the variables the agent names with ``options.api_key: ${env:NAME}``) in the runner's
environment. Found missing only when a caller is on the line, that is a failed call; found here,
it is a failed `cb plan` and a `/readyz` that names the agent.

Each pipeline provider may declare what it needs with ``required_env(part) -> list[str]`` (names
only, never values); ``secret_name`` gives the name a secret option refers to, as ``secret``
reads it. A provider that declares nothing is taken to need every ``${env:NAME}`` its part's
options mention. Only names leave this module: a value is never read beyond "set or not".
"""

from __future__ import annotations

import os
from typing import Any, Iterator, Mapping

from cb import secrets

from .pipeline import KINDS, PartSpec, ProviderUnavailable, registry, resolve


def secret_name(options: Mapping[str, Any], key: str, default_env: str) -> str | None:
    """The variable a secret option reads (``${env:NAME}``, else ``default_env``); None when the
    option holds a value instead of a reference (cb validate refuses that; nothing to look up)."""
    ref = options.get(key)
    if isinstance(ref, str):
        return secrets.reference(ref)
    return default_env


def _mentioned(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield from secrets.ENV_REF.findall(value)
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _mentioned(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _mentioned(v)


def part_needs(kind: str, part: PartSpec) -> list[str]:
    """The variables one part (and its fallback, if it has one) needs on the runner."""
    provider = registry()[0].get((kind, part.provider))
    declare = getattr(provider, "required_env", None)
    names = list(declare(part)) if declare is not None else list(_mentioned(part.options))
    fallback = getattr(part, "fallback", None)
    if fallback is not None:
        names += part_needs(kind, fallback)
    return list(dict.fromkeys(names))


def needs(pipeline: Mapping[str, Any] | None, default_profile: str) -> dict[str, list[str]]:
    """kind -> the variables that part needs, for an agent's ``spec.pipeline`` (a plain dict).
    A profile or provider that does not exist needs nothing here: cb validate names it."""
    try:
        parts = resolve(dict(pipeline or {}), default_profile)
    except (ProviderUnavailable, KeyError, TypeError, AttributeError):
        return {}
    return {kind: found for kind in KINDS if (found := part_needs(kind, parts[kind]))}


def report(pipeline: Mapping[str, Any] | None, default_profile: str,
           env: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """``{"needs": [...], "missing": [...]}`` for one agent: variable names, the missing ones being
    unset or empty in ``env`` (the runner's environment by default)."""
    env = os.environ if env is None else env
    names = list(dict.fromkeys(n for found in needs(pipeline, default_profile).values() for n in found))
    return {"needs": names, "missing": [n for n in names if not env.get(n)]}


def fix(missing: list[str]) -> str:
    """The one line that says what to do about missing variables."""
    return f"export {' and '.join(missing)} on the runner and restart it"
