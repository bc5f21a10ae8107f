"""Do-not-call ``file`` sources: read once, where the project is, and applied with their policy.

``parse`` is the one reader of a list file (E.164 numbers one a line, ``#`` comments, a CSV's first
column). ``applied`` puts each file source's numbers and the file's sha256 into its policy as the
project is loaded for plan and apply (cb.config.models.AppliedCompliancePolicy), so a change of the
file is a change of the policy that ``cb plan`` shows, and the runner judges calls by the numbers
that were reviewed, never a file in its own start folder. ``check`` is ``cb validate``'s: a file
that cannot be read, or a line that starts like a number but is not E.164, is an error at the
source's line rather than a policy that goes live to refuse every call.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from .diagnostics import Diagnostic
from .models import E164_PATTERN, AppliedCompliancePolicy

if TYPE_CHECKING:
    from .project import Resource

_E164 = re.compile(E164_PATTERN)


def parse(text: str) -> tuple[list[str], list[tuple[int, str]]]:
    """(the numbers, sorted and unique; [(line, cell)] for each cell that starts with + but is not E.164).
    A line's first CSV cell counts; anything after ``#`` is a comment; other cells (a header) are skipped."""
    numbers, bad = set(), []
    for n, line in enumerate(text.splitlines(), 1):
        cell = line.split("#", 1)[0].split(",", 1)[0].strip().strip('"')
        if cell.startswith("+"):
            (numbers.add(cell) if _E164.match(cell) else bad.append((n, cell)))
    return sorted(numbers), bad


def read(path: str, root: Path) -> tuple[list[str], list[tuple[int, str]], str]:
    """A list file relative to the project folder: (numbers, bad cells, sha256 of its bytes). Raises OSError."""
    file = Path(path)
    data = (file if file.is_absolute() else root / file).read_bytes()
    numbers, bad = parse(data.decode("utf-8", errors="replace"))
    return numbers, bad, hashlib.sha256(data).hexdigest()


def _sources(r: "Resource") -> list[Any]:
    spec = r.doc.data.get("spec") if isinstance(r.doc.data, dict) else None
    sources = (spec or {}).get("do_not_call") if isinstance(spec, dict) else None
    return sources if isinstance(sources, list) else []


def applied(resources: dict[str, "Resource"], root: Path) -> dict[str, "Resource"]:
    """Each CompliancePolicy with a readable file source carries its numbers and sha256; one that
    cannot be read is left as written (``check`` reports it, so plan and apply stop there)."""
    out = dict(resources)
    for address, r in resources.items():
        if r.kind != "CompliancePolicy" or r.model is None:
            continue
        data = r.model.model_dump(mode="json", by_alias=True)
        carried = False
        for source in data["spec"].get("do_not_call") or []:
            if source.get("type") != "file":
                continue
            try:
                numbers, _, sha = read(source["path"], root)
            except OSError:
                continue
            source.update(numbers=numbers, sha256=sha)
            carried = True
        if carried:
            out[address] = replace(r, model=AppliedCompliancePolicy.model_validate(data))
    return out


def check(policies: Iterable["Resource"], root: Path) -> Iterator[Diagnostic]:
    for r in policies:
        for i, source in enumerate(_sources(r)):
            if not isinstance(source, dict) or source.get("type") != "file" or not source.get("path"):
                continue
            line, col = r.where(("spec", "do_not_call", i, "path"))
            try:
                _, bad, _ = read(source["path"], root)
            except OSError as exc:
                yield Diagnostic(r.file, line, col, "CB102", r.address,
                                 f"do_not_call[{i}].path: {source['path']!r} cannot be read ({exc.strerror or exc}); "
                                 "the runner would refuse every call of this policy",
                                 "commit the list beside cb.yaml (the path is relative to the project folder)")
                continue
            for n, cell in bad[:5]:
                yield Diagnostic(r.file, line, col, "CB102", r.address,
                                 f"do_not_call[{i}].path: {source['path']}:{n}: {cell!r} is not an E.164 number",
                                 "write it as + country code and number, digits only (+14155550100)")
