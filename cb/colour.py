"""Whether cb may colour what it prints, decided in one place.

NO_COLOR (https://no-color.org), when set and not empty, turns ANSI colour off everywhere: the
CLI's echo (``cb.cli`` sets the click context's ``color``), the plan renderers (``style``) and the
runner's log (uvicorn's ``use_colors``). Otherwise click decides: colour on a terminal only.
"""

from __future__ import annotations

import os
from typing import Any

import click


def enabled() -> bool:
    """False when NO_COLOR is set to anything but the empty string."""
    return not os.environ.get("NO_COLOR")


def style(text: str, **kwargs: Any) -> str:
    """``click.style``, or the plain text under NO_COLOR."""
    return click.style(text, **kwargs) if enabled() else text
