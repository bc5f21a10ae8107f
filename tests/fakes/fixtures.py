"""pytest fixtures for the shared fakes. Re-export the ones you need from your own conftest.py."""

from __future__ import annotations

from typing import Iterator

import pytest

from .twilio_rest import FakeTwilio


@pytest.fixture
def twilio_fake() -> Iterator[FakeTwilio]:
    """A started FakeTwilio on 127.0.0.1 (free port), stopped when the test ends."""
    with FakeTwilio() as fake:
        yield fake
