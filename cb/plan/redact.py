"""Hide sensitive values in anything shown (plans, history, diffs).

A ``${env:NAME}`` reference is fine to show (it says where the secret comes from); a value under
a sensitive-looking key that is not a reference is hidden. Validation already refuses inline
secrets; this is the second line, so a renderer can never leak one.
"""

from __future__ import annotations

import re
from typing import Any

SENSITIVE_KEY = re.compile(r"(?i)(authorization|api[-_]?key|token|secret|password|passwd|cookie|signature|credential)")
ENV_REF = re.compile(r"\$\{env:[A-Za-z_][A-Za-z0-9_]*\}")
HIDDEN = "(sensitive value hidden)"


def sensitive_path(path: str) -> bool:
    return any(SENSITIVE_KEY.search(part) for part in path.split(".")[-2:])


def hide(value: Any) -> Any:
    if isinstance(value, str) and ENV_REF.search(value):
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
