"""Fixtures for the Twilio plugin tests.

The shared fakes live in tests/fakes and are imported as ``tests.fakes``; pytest puts only this
folder on sys.path, so the repository root is added here (harmless when it is already there).

Here ``twilio_fake`` is stricter than the shared one: after each test, every request the fake
received and every answer it gave must agree with Twilio's OpenAPI spec, so each test of the
provider doubles as a contract test. A test that sends off-spec requests on purpose says so
with ``@pytest.mark.off_contract``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

ROOT = str(Path(__file__).resolve().parents[3])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.fakes.twilio_contract import contract_problems  # noqa: E402
from tests.fakes.twilio_rest import FakeTwilio  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "off_contract: the test sends requests Twilio's spec does not allow, on purpose")


@pytest.fixture
def twilio_fake(request: pytest.FixtureRequest) -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake
    if request.node.get_closest_marker("off_contract") is None:
        problems = contract_problems(fake.requests)
        assert problems == [], "requests or responses departed from Twilio's spec:\n" + "\n".join(problems)
