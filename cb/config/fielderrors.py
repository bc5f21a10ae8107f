"""Turn pydantic validation errors into diagnostics that point at the YAML that caused them."""

from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from cb.secrets import REF_PATTERN

from .models import ADDRESS_PATTERN, E164_PATTERN, NAME_PATTERN, RENAMED
from .yamlsafe import Document, Path


BOUNDS = {
    "greater_than_equal": "at least",
    "greater_than": "more than",
    "less_than_equal": "at most",
    "less_than": "less than",
    "too_short": "at least as long as",
    "too_long": "at most as long as",
}
PATTERN_HINTS = {
    r"^([01][0-9]|2[0-3]):[0-5][0-9]$": ("a 24-hour time", "write times as HH:MM, from 00:00 to 23:59"),
    r"^https?://[^\s]+$": ("an http(s) URL", "write a full URL such as https://example.com/hooks/calls"),
    r"^[A-Za-z_][A-Za-z0-9_]*$": ("a valid variable name", "use letters, digits and _, not starting with a digit"),
    ADDRESS_PATTERN: ("an address", "write kind.name, e.g. agent.front-desk (kinds: agent, tool, number, "
                                    "compliance_policy, return_schema)"),
}


def did_you_mean(word: str, choices: typing.Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def data_path(data: Any, loc: tuple) -> Path:
    """Drop the union tags pydantic puts into ``loc``: keep what exists in the data."""
    out: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, dict) and part in node:
            out.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            out.append(part)
            node = node[part]
        elif last and isinstance(node, dict):
            out.append(part)  # a missing or unknown key: it names the field
        # else: a union tag such as 'ref' or 'inline'; skip it
    return tuple(out)


def _unwrap(tp: Any) -> list[Any]:
    """The model classes a field annotation can hold (through Optional, list, dict, Annotated)."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(tp) for m in _unwrap(a)]
    if origin in (list, tuple, set):
        return [m for a in typing.get_args(tp) for m in _unwrap(a)]
    if origin is dict:
        return _unwrap(typing.get_args(tp)[1])
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    return []


def fields_at(model: type[BaseModel], path: Path) -> set[str]:
    """Field names (by alias) allowed in the mapping at ``path`` of a ``model`` document."""
    models = [model]
    for part in path:
        if isinstance(part, int):
            continue
        nxt: list[type[BaseModel]] = []
        for m in models:
            for name, info in m.model_fields.items():
                if (info.alias or name) == part:
                    nxt += _unwrap(info.annotation)
        if not nxt:  # into a free-form dict (e.g. context variables)
            for m in models:
                for info in m.model_fields.values():
                    if typing.get_origin(info.annotation) is dict:
                        nxt += _unwrap(info.annotation)
        models = nxt
    return {info.alias or name for m in models for name, info in m.model_fields.items()}


def _where(path: Path) -> str:
    parent = ".".join(str(p) for p in path[:-1])
    return f" in {parent}" if parent else ""


def _dotted(path: Path) -> str:
    return ".".join(str(p) for p in path) or "(document)"


def _describe(value: Any) -> str:
    kind = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "mapping",
            type(None): "null"}.get(type(value), type(value).__name__)
    if isinstance(value, (dict, list)):
        return f"a {kind}"
    text = repr(value)
    return f"{kind} {text if len(text) < 40 else text[:37] + '...'}"


def _quote_hint(value: Any) -> str:
    """YAML reads +14155550101 as the integer 14155550101 and yes as true: say to quote it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "put the value in quotes to keep it text" if isinstance(value, bool) else ""
    if isinstance(value, int) and value >= 10**6:
        return f'YAML read the number {value}; quote phone numbers to keep the +, e.g. "+{value}"'
    return f'put the value in quotes to keep it text, e.g. "{value}"'


def convert(model: type[BaseModel], doc: Document, error: ValidationError) -> list[tuple[str, Path, str, str, bool]]:
    """(code, path, message, hint, point_at_key) for each error, most useful first."""
    out = []
    seen: set[tuple[str, Path]] = set()
    for err in error.errors(include_url=False):
        path = data_path(doc.data, tuple(err["loc"]))
        kind = err["type"]
        field = str(path[-1]) if path else ""
        value = err.get("input")
        ctx = err.get("ctx") or {}
        if kind == "extra_forbidden" and field in RENAMED and RENAMED[field] in fields_at(model, path[:-1]):
            item = ("CB101", path, f"'{field}' was renamed to '{RENAMED[field]}'{_where(path)}",
                    f"rename the key: {RENAMED[field]}: {str(value).lower() if isinstance(value, bool) else value}", True)
        elif kind == "extra_forbidden":
            allowed = fields_at(model, path[:-1])
            guess = did_you_mean(field, allowed)
            hint = f"did you mean '{guess}'?" if guess else f"allowed here: {', '.join(sorted(allowed))}"
            item = ("CB101", path, f"unknown field '{field}'{_where(path)}", hint, True)
        elif kind == "missing":
            parent = f"to {_dotted(path[:-1])}" if len(path) > 1 else "at the top level of the document"
            item = ("CB103", path, f"missing required field '{field}'{_where(path)}",
                    f"add `{field}:` {parent}", False)
        elif kind == "string_pattern_mismatch":
            pattern = ctx.get("pattern")
            if pattern == E164_PATTERN:
                item = ("CB501", path, f"{_dotted(path)}: {value!r} is not an E.164 phone number",
                        "write it as + then country code and number, digits only, e.g. +14155550100", False)
            elif pattern == REF_PATTERN:
                item = ("CB601", path, f"{_dotted(path)}: a secret is written inline",
                        "reference it instead: ${env:NAME}, and set NAME in the runner's environment", False)
            elif pattern == NAME_PATTERN:
                item = ("CB102", path, f"{_dotted(path)}: {value!r} is not a valid name",
                        "names are lowercase letters, digits, '-' and '_', starting with a letter or digit, at most 63 characters", False)
            elif pattern in PATTERN_HINTS:
                what, hint = PATTERN_HINTS[pattern]
                item = ("CB102", path, f"{_dotted(path)}: {value!r} is not {what}", hint, False)
            else:
                item = ("CB102", path, f"{_dotted(path)}: {_describe(value)} does not match {pattern}", "", False)
        elif kind == "literal_error":
            expected = re.findall(r"'([^']*)'", ctx.get("expected", ""))
            guess = did_you_mean(str(value), expected) if isinstance(value, str) else None
            hint = f"did you mean '{guess}'?" if guess else f"use one of: {', '.join(expected)}"
            item = ("CB102", path, f"{_dotted(path)}: {_describe(value)} is not allowed", hint, False)
        elif kind == "value_error":
            item = ("CB102", path, f"{_dotted(path) if path else 'spec'}: {err['msg'].removeprefix('Value error, ')}", "", False)
        elif kind in BOUNDS:
            limit = next(iter(ctx.values()), "?")
            item = ("CB102", path, f"{_dotted(path)}: must be {BOUNDS[kind]} {limit}, got {value!r}", "", False)
        elif kind.endswith("_type") or kind.endswith("_parsing"):
            wanted = kind.split("_")[0]
            wanted = {"model": "mapping", "dict": "mapping", "int": "integer", "float": "number",
                      "bool": "boolean", "string": "string", "list": "list"}.get(wanted, wanted)
            article = "an" if wanted[0] in "aeiou" else "a"
            item = ("CB102", path, f"{_dotted(path)}: expected {article} {wanted}, got {_describe(value)}",
                    _quote_hint(value) if wanted == "string" else "", False)
        else:
            item = ("CB102", path, f"{_dotted(path)}: {err['msg']}", "", False)
        if (item[0], path) not in seen:
            seen.add((item[0], path))
            out.append(item)
    return out
