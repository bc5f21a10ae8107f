"""``${env:NAME}``: how configuration names a secret without holding it, and how cb reads one.

Secrets never live in git: a document names the environment variable that holds one, and the
runner reads the variable when it needs the value. This module is the one owner of that syntax.

- ``REF_PATTERN`` (a JSON Schema pattern) and ``is_reference``: a whole value that is a reference.
- ``ENV_REF``: a reference anywhere inside a string (group 1 is the variable's name).
- ``resolve``: a whole-value reference -> the variable's value. An empty variable counts as unset:
  an empty secret is never what was meant.
- ``substitute``: every reference inside a template (an HTTP tool's URL or header) -> its value.

Errors name the variable and say where to set it; callers that need their own exception type
catch ``SecretError`` and keep its message or add what the secret is for.
"""

from __future__ import annotations

import os
import re
from typing import Mapping

NAME = r"[A-Za-z_][A-Za-z0-9_]*"
REF_PATTERN = rf"^\$\{{env:{NAME}\}}$"
ENV_REF = re.compile(rf"\$\{{env:({NAME})\}}")


class SecretError(Exception):
    """A secret cannot be read; the message says why."""


class NotAReference(SecretError):
    def __init__(self, value: str):
        super().__init__(f"{value!r} is not a ${{env:NAME}} reference")
        self.value = value


class UnsetVariable(SecretError):
    def __init__(self, name: str):
        super().__init__(f"environment variable {name} is not set in the runner's environment")
        self.name = name


def reference(value: str) -> str | None:
    """The variable's name when ``value`` is exactly one ``${env:NAME}``, else None."""
    match = ENV_REF.fullmatch(value)
    return match.group(1) if match else None


def is_reference(value: object) -> bool:
    return isinstance(value, str) and reference(value) is not None


def mentions_reference(value: object) -> bool:
    """Whether a string names a secret somewhere (``Bearer ${env:TOKEN}``)."""
    return isinstance(value, str) and ENV_REF.search(value) is not None


def resolve(ref: str, env: Mapping[str, str] | None = None) -> str:
    """The value of the variable a whole-value reference names; NotAReference or UnsetVariable."""
    name = reference(ref)
    if name is None:
        raise NotAReference(ref)
    return read(name, env)


def read(name: str, env: Mapping[str, str] | None = None) -> str:
    """The value of one variable; UnsetVariable when it is unset or empty."""
    value = (os.environ if env is None else env).get(name)
    if not value:
        raise UnsetVariable(name)
    return value


def substitute(text: str, env: Mapping[str, str] | None = None, used: list[str] | None = None) -> str:
    """Every ``${env:NAME}`` in ``text`` replaced by its value (set but empty stays empty); each
    non-empty value used is added to ``used`` so the caller can scrub it from logs."""
    env = os.environ if env is None else env

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name not in env:
            raise UnsetVariable(name)
        if used is not None and env[name]:
            used.append(env[name])
        return env[name]

    return ENV_REF.sub(value, text)


#: The runner's own credentials: no tool may send them anywhere, whatever cb.yaml allows.
RUNNER_CREDENTIALS = frozenset({
    "CB_TOKEN", "CB_STATE_DB", "CB_AUDIT_KEY", "TWILIO_AUTH_TOKEN", "TWILIO_API_KEY", "TWILIO_API_SECRET",
    "OPENAI_API_KEY", "GROQ_API_KEY", "DEEPGRAM_API_KEY", "CARTESIA_API_KEY", "ANTHROPIC_API_KEY",
    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "DATABASE_URL", "PGPASSWORD",
})
RUNNER_PREFIXES = ("CB_", "TWILIO_")


def runner_credential(name: str) -> bool:
    """Whether ``name`` is one of the runner's own credentials (never a tool's to send)."""
    return name in RUNNER_CREDENTIALS or name.startswith(RUNNER_PREFIXES)


def allowed_by(name: str, patterns: list[str] | tuple[str, ...]) -> bool:
    """Whether ``name`` matches one of ``patterns``: a name, or a prefix ending in ``*``."""
    return any(name.startswith(p[:-1]) if p.endswith("*") else name == p for p in patterns)
