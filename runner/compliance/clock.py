"""The one door to real time for the dial queue and its rules, so tests run on fixed dates.

``Clock.now()`` is epoch seconds (UTC). ``SystemClock`` reads the machine's clock; a test passes a
``FixedClock`` (set or advance it by hand) to the runner's ``app.state.dial_clock``.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone


class SystemClock:
    def now(self) -> float:
        return time.time()


class FixedClock:
    def __init__(self, at: float | datetime):
        self.at = at.timestamp() if isinstance(at, datetime) else float(at)

    def now(self) -> float:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += seconds

    def set(self, at: datetime) -> None:
        self.at = at.timestamp()


def utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)
