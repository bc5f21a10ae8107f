"""Fixtures for the Twilio plugin tests.

The shared fakes live in tests/fakes and are imported as ``tests.fakes``; pytest puts only this
folder on sys.path, so the repository root is added here (harmless when it is already there).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.fakes.fixtures import twilio_fake  # noqa: E402,F401  (re-exported fixture)
