"""Find number providers through the ``cb.number_providers`` entry points, built-ins too.

Each provider loads in its own try: a broken or missing plugin only matters to the numbers that
use it, and its error (with the exact install hint an SDK import gives) is shown for them.
A provider class is built with ``from_settings(settings)`` when it has one, else with no
arguments (it then reads its own environment, e.g. TWILIO_ACCOUNT_SID).
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from typing import Any

from .base import DesiredNumber, NumberProvider, ObservedNumber, ProviderError
from .local import LocalNumberProvider

log = logging.getLogger("cb.providers")

GROUP = "cb.number_providers"
# twilio is a dependency of cb itself (no extra): when it cannot load, the install is broken.
INSTALL_HINTS = {"twilio": "the twilio SDK is one of cb's own dependencies: reinstall cb (pip install -e .), "
                           "or pip install 'twilio>=9,<10'"}


def desired_number(content: dict[str, Any], settings: Any) -> DesiredNumber:
    """What a Number document asks its provider to hold: point the number at this runner."""
    spec = content["spec"]
    return DesiredNumber(number=spec["number"], voice_url=settings.voice_url, voice_method="POST",
                         status_callback=settings.status_callback_url,
                         friendly_name=f"cb {content['metadata']['name']}", purchase=bool(spec.get("purchase")))


def differences(observed: ObservedNumber, desired: DesiredNumber) -> dict[str, tuple[Any, Any]]:
    """Fields where the provider's reality differs from what cb would set: field -> (observed, desired)."""
    out = {}
    for field in ("voice_url", "voice_method", "status_callback", "friendly_name"):
        have, want = getattr(observed, field), getattr(desired, field)
        if (have or None) != (want or None) and not (field == "voice_method" and str(have).upper() == str(want).upper()):
            out[field] = (have, want)
    return out


def moved_runner_url(observed: ObservedNumber, desired: DesiredNumber) -> str | None:
    """The runner URL the number still points at, when the only reason it differs is that this
    runner's public URL changed (cb set it, at another address); None otherwise."""
    voice, status = observed.voice_url or "", observed.status_callback or ""
    want = desired.voice_url.rsplit("/twilio/voice", 1)[0]
    if not voice.endswith("/twilio/voice") or observed.friendly_name != desired.friendly_name:
        return None
    old = voice[: -len("/twilio/voice")]
    if old == want or (status and status != f"{old}/twilio/status"):
        return None
    return old


class ProviderRegistry:
    def __init__(self, settings: Any, store: Any = None):
        self.settings = settings
        self._store = store
        self._cache: dict[str, NumberProvider] = {}

    def _local_lookup(self, number: str, provider: str = "local") -> ObservedNumber | None:
        if self._store is None:
            return None
        for rev in self._store.snapshot().resources.values():
            if rev.kind == "Number" and rev.content["spec"]["number"] == number:
                spec = rev.content["spec"]
                if spec.get("provider", "local") == provider:
                    d = desired_number(rev.content, self.settings)
                    return ObservedNumber(number, f"local:{number}", d.voice_url, d.voice_method,
                                          d.status_callback, d.friendly_name)
        return None

    def get(self, name: str) -> NumberProvider:
        """The provider called ``name``; ProviderError with an install hint if it cannot load."""
        if name in self._cache:
            return self._cache[name]
        if name == "local":
            provider: Any = LocalNumberProvider(self.settings, self._local_lookup)
        elif name == "sip":  # a SIP trunk's numbers live in the runner's state, as local ones do;
            # its listener is the sip call transport's (cb.providers.transport)
            provider = LocalNumberProvider(self.settings, lambda number: self._local_lookup(number, "sip"))
        else:
            provider = self._load(name)
        self._cache[name] = provider
        return provider

    def _load(self, name: str) -> Any:
        found = [ep for ep in entry_points(group=GROUP) if ep.name == name]
        if not found:
            hint = INSTALL_HINTS.get(name, f"install the plugin that provides the {name!r} number provider")
            raise ProviderError(f"no number provider named {name!r} is installed: {hint}")
        try:
            factory = found[0].load()
            if hasattr(factory, "from_settings"):
                return factory.from_settings(self.settings)
            return factory()
        except ProviderError:
            raise
        except ImportError as exc:
            hint = INSTALL_HINTS.get(name, "")
            raise ProviderError(f"number provider {name!r} cannot load: {exc}" + (f"; {hint}" if hint else "")) from exc
        except Exception as exc:  # a plugin's own configuration problem (missing credentials, ...)
            raise ProviderError(f"number provider {name!r} failed to start: {exc}") from exc

    @staticmethod
    def is_external(provider: Any) -> bool:
        return getattr(provider, "external", True)
