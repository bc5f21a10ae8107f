"""JSON Schema validation shared by tool arguments and structured returns.

jsonschema only checks ``format: date-time`` when an optional package is installed, so without
it a return schema's ``appointment_at`` would accept "next Tuesday". cb checks date-time itself
(RFC 3339: a date, a time and an offset), so that promise does not depend on what is installed.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: Any) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    datetime.fromisoformat(value.replace("z", "+00:00").replace("Z", "+00:00"))  # real dates only
    return True


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=FORMATS)


def problems(schema: dict[str, Any], instance: Any, limit: int = 10) -> list[str]:
    """Every violation as ``path: message``, most specific first; empty when valid."""
    errors = sorted(validator(schema).iter_errors(instance), key=lambda e: (list(e.path), e.message))
    out = []
    for e in errors[:limit]:
        where = "/".join(str(p) for p in e.absolute_path) or "(top level)"
        out.append(f"{where}: {e.message}")
    return out
