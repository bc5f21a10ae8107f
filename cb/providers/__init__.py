"""The published plugin API: what a provider plugin may import from cb.

A plugin imports only ``cb.providers`` (this package), the configuration types of ``cb.config``
and the published shapes of ``cb.contracts``; never ``cb.runner`` or ``cb.cli``. A test reads
every import of ``plugins/`` and fails on anything else (tests/test_layers.py).

Two kinds of plugin, each found through its own entry-point group, built-ins too:

- pipeline providers (``cb.pipeline_providers``, ``cb.providers.pipeline``): one part of a call,
  ``stt``, ``llm``, ``tts`` or ``vad``. A provider satisfies ``PipelineProvider``: ``name``,
  ``kind`` and ``create(part: PartSpec, audio: CallAudio)``. It imports an optional SDK with
  ``require`` (which fails with the exact install hint), reads a key with ``secret`` (a
  ``${env:NAME}`` reference, never a value) and raises ``ProviderUnavailable`` with a message that
  says how to fix what is missing. It may declare the environment variables a part needs with
  ``required_env(part: PartSpec) -> list[str]`` (names; ``secret_name`` gives the one a secret
  option reads), so `cb plan` and ``/readyz`` name a missing key before a call fails on it
  (``cb.providers.credentials``).
- number providers (``cb.number_providers``, ``cb.providers.base``): the phone numbers an apply
  points at the runner, satisfying ``NumberProvider``; a refusal is a ``ProviderError``.

The runner loads pipeline providers with ``cb.providers.pipeline`` (``resolve``, ``create``,
``warm_up``) and the apply engine loads number providers with ``cb.providers.registry``.
"""

from .base import DesiredNumber, NumberProvider, ObservedNumber, ProviderError
from .pipeline import (
    KINDS,
    PROFILES,
    VAD_KIND,
    VAD_PROVIDER,
    CallAudio,
    PartSpec,
    PipelineProvider,
    ProviderUnavailable,
    install_hint,
    require,
    secret,
)
from .credentials import secret_name

__all__ = [
    "KINDS", "PROFILES", "VAD_KIND", "VAD_PROVIDER", "CallAudio", "DesiredNumber", "NumberProvider",
    "ObservedNumber", "PartSpec", "PipelineProvider", "ProviderError", "ProviderUnavailable", "install_hint",
    "require", "secret", "secret_name",
]
