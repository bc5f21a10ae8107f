"""``cb validate``: a CompliancePolicy's do-not-call ``file`` source must be readable.

The runner reads the file relative to its project folder and refuses every call of the policy when
it cannot (fail closed); validation says so first, at the source's line, rather than let a policy
go live that will only refuse.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

from .diagnostics import Diagnostic

if TYPE_CHECKING:
    from .project import Resource


def check(policies: Iterable["Resource"], root: Path) -> Iterator[Diagnostic]:
    for r in policies:
        spec = r.doc.data.get("spec") if isinstance(r.doc.data, dict) else None
        sources = (spec or {}).get("do_not_call") if isinstance(spec, dict) else None
        for i, source in enumerate(sources or []):
            if not isinstance(source, dict) or source.get("type") != "file" or not source.get("path"):
                continue
            path = Path(source["path"])
            path = path if path.is_absolute() else root / path
            try:
                path.read_bytes()
            except OSError as exc:
                line, col = r.where(("spec", "do_not_call", i, "path"))
                yield Diagnostic(r.file, line, col, "CB102", r.address,
                                 f"do_not_call[{i}].path: {source['path']!r} cannot be read ({exc.strerror or exc}); "
                                 "the runner would refuse every call of this policy",
                                 "commit the list beside cb.yaml (the path is relative to the project folder)")
