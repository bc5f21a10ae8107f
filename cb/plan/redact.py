"""Hide sensitive values in anything shown (plans, history, diffs).

A ``${env:NAME}`` reference is fine to show (it says where the secret comes from); a value under
a sensitive-looking key that is not a reference is hidden. Validation already refuses inline
secrets; this is the second line, so a renderer can never leak one.

``shorten`` keeps what is shown readable: a do-not-call file's numbers, applied with its policy
(thousands of lines in a real list), are shown as their count beside the file's sha256.
"""

from __future__ import annotations

import re
from typing import Any

from cb.secrets import mentions_reference

SENSITIVE_KEY = re.compile(r"(?i)(authorization|api[-_]?key|token|secret|password|passwd|cookie|signature|credential)")
HIDDEN = "(sensitive value hidden)"


def sensitive_path(path: str) -> bool:
    return any(SENSITIVE_KEY.search(part) for part in path.split(".")[-2:])


def hide(value: Any) -> Any:
    if mentions_reference(value):
        return value
    if value is None or value == "":
        return value
    return HIDDEN


def redact(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: redact(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, key) for v in value]
    if key and SENSITIVE_KEY.search(key) and not isinstance(value, (bool, int, float)):
        return hide(value)
    return value


def shorten(value: Any) -> Any:
    """``value`` with each applied do-not-call file source's ``numbers`` as a count (its ``sha256``
    beside it names the exact list)."""
    if isinstance(value, dict):
        if value.get("type") == "file" and value.get("sha256") and isinstance(value.get("numbers"), list):
            return {**value, "numbers": f"({len(value['numbers'])} numbers)"}
        return {k: shorten(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shorten(v) for v in value]
    return value
