"""The contacts file of `cb call AGENT --to-file contacts.csv`: one outbound call per row.

Columns (a header row names them, in any order):

- ``number``: the callee, E.164 (required);
- ``context``: the agent's context variables as a JSON object, and/or ``context.KEY`` columns
  (``context.customer.first_name``: nested keys); a cell left empty is not set;
- ``tz``: the callee's IANA time zone, when known better than from the number (optional);
- ``consent``: the callee's consent evidence as a JSON object ``{"when", "how", "by"}``, and/or
  ``consent.when``, ``consent.how``, ``consent.by`` columns (optional; a policy may require it).

Every row is checked before anything is sent, and the runner checks the batch again (the agent,
the number, the context against the agent's declared context): a bad row is named by file:line
with its fix, and then nothing is queued.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
KNOWN = ("number", "context", "tz", "consent")


@dataclass
class Row:
    line: int
    body: dict[str, Any]


class ContactsError(ValueError):
    """Every problem of the file, one per line, each with file:line and the fix."""


def _json_object(cell: str, where: str, what: str, example: str) -> dict[str, Any]:
    try:
        value = json.loads(cell)
    except ValueError as exc:
        raise ValueError(f"{where}: {what} is not JSON ({exc.msg}); fix: write an object such as {example}, "
                         "with the cell quoted and its quotes doubled in CSV") from None
    if not isinstance(value, dict):
        raise ValueError(f"{where}: {what} must be a JSON object; fix: write it as {example}")
    return value


def _put(target: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for key in parents:
        target = target.setdefault(key, {})
    target[leaf] = value


def read(path: str | Path, agent: str) -> list[Row]:
    """The file's rows as ``POST /v1/calls/batch`` bodies; ContactsError listing every bad row."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ContactsError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    reader = csv.reader(text.splitlines(keepends=True))
    header = next(reader, None)
    if not header or "number" not in [h.strip() for h in header]:
        raise ContactsError(f"{path}:1: the first row must name the columns, with `number` among them; fix: "
                            "a header such as number,context.first_name,tz,consent.when,consent.how,consent.by")
    names = [h.strip() for h in header]
    unknown = [n for n in names if n and n.split(".", 1)[0] not in KNOWN]
    if unknown:
        raise ContactsError(f"{path}:1: unknown column {unknown[0]!r}; fix: use number, context, context.KEY, tz, "
                            "consent or consent.when/how/by")
    rows, problems, end = [], [], 1
    for cells in reader:
        line, end = end + 1, reader.line_num
        if not any(c.strip() for c in cells):
            continue
        where = f"{path}:{line}"
        try:
            if len(cells) != len(names):
                raise ValueError(f"{where}: {len(cells)} cells for {len(names)} columns; fix: quote a cell that "
                                 "holds a comma, and give every row the header's columns")
            row = dict(zip(names, (c.strip() for c in cells)))
            body: dict[str, Any] = {"agent": agent, "to": row["number"]}
            if not E164.match(row["number"]):
                raise ValueError(f"{where}: number {row['number']!r} is not E.164; fix: write it as +<country code>"
                                 "<number>, e.g. +14155550199")
            context = _json_object(row["context"], where, "context", '{"first_name": "Maria"}') \
                if row.get("context") else {}
            consent = _json_object(row["consent"], where, "consent",
                                   '{"when": "2026-01-05", "how": "web form", "by": "Maria Gomez"}') \
                if row.get("consent") else {}
            for name, cell in row.items():
                if cell and name.startswith("context."):
                    _put(context, name[len("context."):], cell)
                elif cell and name.startswith("consent."):
                    _put(consent, name[len("consent."):], cell)
            if context:
                body["context"] = context
            if consent:
                body["consent"] = consent
            if row.get("tz"):
                try:
                    ZoneInfo(row["tz"])
                except (ZoneInfoNotFoundError, ValueError):
                    raise ValueError(f"{where}: tz {row['tz']!r} is not a time zone; fix: an IANA name such as "
                                     "America/New_York, or leave it empty to use the number's") from None
                body["tz"] = row["tz"]
            rows.append(Row(line, body))
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise ContactsError("\n".join(problems))
    if not rows:
        raise ContactsError(f"{path}: no contacts under the header; fix: one row per callee")
    return rows
