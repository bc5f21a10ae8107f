"""Shared by every test folder: the webhook/tool receiver, and the ``slow`` mark.

Every test that starts a process is marked ``slow`` here, so ``pytest -m 'not slow'`` is the fast
loop while iterating (CI runs everything). A test starts a process when it lives under
``tests/e2e/``, uses a fixture that starts one (a runner, a PostgreSQL server, a runner behind the
Twilio fake), or its module holds ``subprocess`` or a ``start_runner`` helper.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.receiver import receiver  # noqa: F401  (fixture)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

E2E = Path(__file__).resolve().parent / "e2e"
PROCESS_FIXTURES = {"runner", "cb", "pg_server", "pg_url", "twilio_runner", "tw"}


def starts_a_process(item: pytest.Item) -> bool:
    if E2E in Path(str(item.path)).resolve().parents:
        return True
    if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    module = getattr(item, "module", None)
    names = vars(module) if module is not None else {}
    return names.get("subprocess") is subprocess or "start_runner" in names


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if starts_a_process(item) and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow)
