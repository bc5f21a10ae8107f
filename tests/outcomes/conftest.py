from __future__ import annotations

import pytest

from .receiver import Receiver


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(script=None, reply=None) -> Receiver:
        r = Receiver(script=script or [200], reply=reply or {"ok": True})
        made.append(r)
        return r

    yield make
    for r in made:
        r.stop()
