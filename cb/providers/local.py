"""The ``local`` number provider: numbers that live only in the runner's own state.

Used by the embedded default (calls arrive over a local SIP/WebSocket peer, not a carrier), so
there is no external system to configure: what the state says *is* reality. Its numbers are
therefore applied inside the runner's single state transaction (``external = False``).
"""

from __future__ import annotations

from typing import Any, Callable

from .base import DesiredNumber, ObservedNumber


class LocalNumberProvider:
    name = "local"
    external = False

    def __init__(self, settings: Any = None, lookup: Callable[[str], ObservedNumber | None] | None = None):
        self._lookup = lookup or (lambda number: None)

    def read(self, number: str) -> ObservedNumber | None:
        return self._lookup(number)

    def create(self, desired: DesiredNumber) -> ObservedNumber:
        return _observed(desired)

    def update(self, observed: ObservedNumber, desired: DesiredNumber) -> ObservedNumber:
        return _observed(desired, sid=observed.sid)

    def delete(self, observed: ObservedNumber) -> None:
        return None


def _observed(desired: DesiredNumber, sid: str | None = None) -> ObservedNumber:
    return ObservedNumber(number=desired.number, sid=sid or f"local:{desired.number}", voice_url=desired.voice_url,
                          voice_method=desired.voice_method, status_callback=desired.status_callback,
                          friendly_name=desired.friendly_name)
