"""The small interface a phone-number provider satisfies (Twilio, local, SIP).

A provider is found through the ``cb.number_providers`` entry point group (built-ins too) and
is constructed with its settings. It speaks about numbers only in these plain terms, so the
plan and apply engine stays free of any SDK.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class ObservedNumber:
    """What the provider really holds for one number."""

    number: str  # E.164
    sid: str | None = None  # provider's id (Twilio PN…)
    voice_url: str | None = None
    voice_method: str = "POST"
    status_callback: str | None = None
    friendly_name: str | None = None
    updated_at: str | None = field(default=None, compare=False)  # when the provider last changed it (ISO 8601)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DesiredNumber:
    """What the configuration asks the provider to hold for one number."""

    number: str
    voice_url: str
    voice_method: str = "POST"
    status_callback: str | None = None
    friendly_name: str | None = None
    purchase: bool = False  # buy it if the account does not hold it


class ProviderError(Exception):
    """The provider refused or failed; the message is shown to the user as is."""


@runtime_checkable
class NumberProvider(Protocol):
    name: str

    def read(self, number: str) -> ObservedNumber | None:
        """The number as the provider holds it, or None if the account does not hold it."""

    def create(self, desired: DesiredNumber) -> ObservedNumber:
        """Purchase (only when desired.purchase) and configure; ProviderError if not held and not purchasable."""

    def update(self, observed: ObservedNumber, desired: DesiredNumber) -> ObservedNumber:
        """Point an existing number at the runner (voice URL, method, status callback, name)."""

    def delete(self, observed: ObservedNumber) -> None:
        """Release the number. Never called when lifecycle.prevent_destroy is set."""
