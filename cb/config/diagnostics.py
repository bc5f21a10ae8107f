"""Diagnostics: every problem names its file, line, column, address, what is wrong and a fix.

Text form (one per problem, compiler style, so editors and CI annotate it)::

    agents/front-desk.yaml:12:5: error[CB101] agent.front-desk: unknown field 'voise' in spec
      hint: did you mean 'voice'?
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Iterable

#: code -> short name; the catalogue users can grep for. Codes are stable.
CODES = {
    "CB001": "yaml-syntax",
    "CB002": "duplicate-key",
    "CB003": "unsafe-yaml",
    "CB004": "input-too-large",
    "CB005": "not-a-resource",
    "CB006": "unknown-kind",
    "CB101": "unknown-field",
    "CB102": "invalid-value",
    "CB103": "missing-field",
    "CB201": "invalid-json-schema",
    "CB301": "unresolved-reference",
    "CB302": "duplicate-name",
    "CB303": "unknown-provider",
    "CB304": "unknown-profile",
    "CB305": "unknown-voice-or-model",
    "CB306": "unknown-language",
    "CB401": "template-syntax",
    "CB402": "undeclared-variable",
    "CB403": "unsafe-template",
    "CB501": "invalid-phone-number",
    "CB601": "inline-secret",
    "CB701": "project-file",
    "CB702": "no-config",
    "CB801": "not-enforced",
}


@dataclass(frozen=True, order=True)
class Diagnostic:
    file: str
    line: int
    column: int
    code: str
    address: str
    message: str
    hint: str = ""
    severity: str = "error"

    def render(self) -> str:
        where = f"{printable(self.file)}:{self.line}:{self.column}"
        subject = f" {printable(self.address)}:" if self.address else ""
        text = f"{where}: {self.severity}[{self.code}]{subject} {printable(self.message)}"
        if self.hint:
            text += f"\n  hint: {printable(self.hint)}"
        return text


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """``text`` on one line, as the terminal will show it: control characters (newline, escape,
    carriage return) and format characters such as bidi overrides escaped, so a name from the YAML
    cannot forge a line or recolour the output."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) <= 0xFF else f"\\u{ord(c):04x}")
                   for c in text)


def render_text(diags: Iterable[Diagnostic], files: int, resources: int) -> str:
    diags = sorted(diags)
    lines = [d.render() for d in diags]
    errors = [d for d in diags if d.severity == "error"]
    if errors:
        bad = len({d.file for d in errors})
        summary = f"\n{_count(len(errors), 'error')} in {_count(bad, 'file')}."
        if files > bad:
            summary += f" {_count(files, 'file')} checked."
        lines.append(summary)
    else:
        verb = "is" if resources == 1 else "are"
        lines.append(f"OK: {_count(resources, 'resource')} in {_count(files, 'file')} {verb} valid.")
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def render_json(diags: Iterable[Diagnostic], files: int, resources: int) -> str:
    diags = sorted(diags)
    return json.dumps(
        {
            "format_version": "1",
            "valid": not any(d.severity == "error" for d in diags),
            "files": files,
            "resources": resources,
            "diagnostics": [{**asdict(d), "name": CODES.get(d.code, "")} for d in diags],
        },
        indent=2,
    )
