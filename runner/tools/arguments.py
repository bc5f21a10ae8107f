"""Check the LLM's arguments against the tool's JSON Schema before anything runs.

An invalid call is answered to the LLM with what is wrong, so it can try again; nothing is sent
to the tool's endpoint and nothing is said to the caller.
"""

from __future__ import annotations

import json
import re
from typing import Any

from cb.runner.schemacheck import problems

_SECRETISH = re.compile(r"pass(word)?|secret|token|api[_-]?key|authori[sz]ation|cvv|cvc|card[_-]?number|ssn|(^|_)pin$",
                        re.I)
REDACTED = "[redacted]"


class InvalidArguments(ValueError):
    pass


def parse_and_check(schema: dict[str, Any], raw: str | dict[str, Any] | None) -> dict[str, Any]:
    """The arguments as a dict, or InvalidArguments naming each problem."""
    if raw is None or raw == "":
        args: Any = {}
    elif isinstance(raw, str):
        try:
            args = json.loads(raw)
        except ValueError as exc:
            raise InvalidArguments(f"arguments are not valid JSON: {exc}") from None
    else:
        args = raw
    if not isinstance(args, dict):
        raise InvalidArguments(f"arguments must be a JSON object, got {type(args).__name__}")
    found = problems(schema, args)
    if found:
        raise InvalidArguments("; ".join(found))
    return args


def redact(value: Any, key: str = "") -> Any:
    """A copy fit for logs and call records: values under secret-looking keys are hidden."""
    if key and _SECRETISH.search(key):
        return REDACTED
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value
