"""Fields cb accepts but the runtime does not act on yet: one table, one warning each.

A declared rule nobody enforces is worse than no rule: a team believes it is protected. Every
such field is listed here (kind, path under the document -> what is not enforced), and ``cb
validate`` and ``cb plan`` print a warning (CB801) for each one a document declares. Warnings do
not change exit codes. The commit that makes the runtime act on a field deletes its row here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Iterator

from .diagnostics import Diagnostic

if TYPE_CHECKING:
    from .project import Resource

CODE = "CB801"

#: (kind, field path) -> what the runtime does not do yet, said to the user.
NOT_ENFORCED: dict[tuple[str, tuple[str, ...]], str] = {
    ("Number", ("spec", "options")):
        "number options are not read by any number provider yet",
}


def _declared(data: Any, path: tuple[str, ...]) -> bool:
    node = data
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return node not in (None, False, [], {}, "")


def _read_by_sip(data: Any, kind: str, path: tuple[str, ...]) -> bool:
    """A ``provider: sip`` Number's options are its trunk (listen, allow, proxy), read by plugins/sip."""
    spec = data.get("spec") if isinstance(data.get("spec"), dict) else {}
    return (kind, path) == ("Number", ("spec", "options")) and spec.get("provider") == "sip"


def warnings(resources: Iterable["Resource"]) -> Iterator[Diagnostic]:
    """A CB801 warning for each field a document declares that the runtime does not act on."""
    for r in resources:
        data = r.doc.data if isinstance(r.doc.data, dict) else {}
        for (kind, path), what in NOT_ENFORCED.items():
            if kind == r.kind and _declared(data, path) and not _read_by_sip(data, kind, path):
                line, col = r.where(path, prefer_key=True)
                yield Diagnostic(r.file, line, col, CODE, r.address, f"{'.'.join(path[1:])}: {what}",
                                 "keep it if you plan for it, but do not rely on it; remove it to silence this",
                                 severity="warning")
