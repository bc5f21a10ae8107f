"""What the runner checks on every change set before it commits anything: reviewed is applied.

Every apply goes through here (a saved plan, a direct `cb apply`, watch mode, `cb rollback`, a
raw ``POST /v1/apply``), inside the runner, so no front door can skip it:

1. the state binding: a plan carries the lineage, serial and fingerprint (sha256 of the live
   snapshot: every address and content hash at that serial) of the state it was made against;
   any one that does not match the state now refuses the apply as stale, so editing ``serial``
   in a plan file gets nowhere;
2. content hashes: each change's content must hash to the ``hash`` the plan recorded for it, so a
   hand edit of a saved plan's documents is refused, naming the address;
3. the whole of `cb validate` (cb.config.checks: schema, references against the state the change
   set would produce, templates, inline secrets, URLs, and each HTTP tool's ``${env:}`` against
   the tools policy it carries) on the documents about to be committed; a do-not-call file source
   must carry its numbers (cb.config.dnc_files.applied), as the runner never reads a list's file.

A refusal raises StateError before anything is touched: no revision, no history row, no
provider call.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Mapping

from cb.config import checks
from cb.config.diagnostics import Diagnostic
from cb.config.models import APPLIED_KINDS, ToolPolicy
from cb.config.project import Resource
from cb.config.yamlsafe import Document
from cb.state.canonical import content_hash
from cb.state.errors import StaleState, StateError
from cb.state.types import thaw

from .references import state_after


def fingerprint(snapshot: Any) -> str:
    """sha256 of the live snapshot: lineage, serial and every address with its content hash."""
    return content_hash({"lineage": snapshot.lineage, "serial": snapshot.serial,
                         "resources": {a: r.hash for a, r in snapshot.resources.items()}})


def check_binding(snapshot: Any, expect_fingerprint: str | None) -> None:
    if expect_fingerprint is not None and expect_fingerprint != fingerprint(snapshot):
        raise StaleState("saved plan is stale: it was made against a state whose fingerprint is not the state's now "
                         f"(serial {snapshot.serial}); the plan's serial or lineage was edited, or the state moved. "
                         "Run `cb plan` again; nothing was applied")


def check_hashes(changes: Iterable[Any], hashes: Mapping[str, str | None]) -> None:
    """Each change with a recorded hash must have content that hashes to it."""
    wrong = [c.address for c in changes if c.content is not None and hashes.get(c.address)
             and content_hash(c.content) != hashes[c.address]]
    if wrong:
        raise StateError("the change set was refused, nothing was applied: the content of "
                         f"{', '.join(wrong)} does not match the hash the plan recorded for it (the plan file was "
                         "edited after `cb plan` wrote it). Plan again from the reviewed configuration")


def _resource(address: str, kind: str, content: Mapping[str, Any]) -> Resource:
    data = thaw(content)
    model = APPLIED_KINDS[kind].model_validate(data)
    return Resource(kind, model.metadata.name, f"(change set) {address}", 1, model, Document(data, 1))


def check_documents(live: Mapping[str, Any], changes: list[Any]) -> None:
    """cb validate's checks on the changed documents, references resolved against the state after them."""
    changed = {c.address for c in changes if c.action != "delete"}
    after = state_after(live, changes)
    by_kind: dict[str, dict[str, Resource]] = defaultdict(dict)
    mine: list[Resource] = []
    for address, (kind, content) in after.items():
        if content is None:
            continue
        if address in changed:
            r = _resource(address, kind, content)
            mine.append(r)
        else:  # unchanged live documents only answer references; their names are all we need
            r = Resource(kind, address.split(".", 1)[1], address, 1, None, Document({}, 1))
        by_kind[kind][r.name] = r
    diags = [d for d in checks.references(by_kind) if d.address in changed]
    diags += checks.json_schemas(mine)
    diags += checks.templates(r for r in mine if r.kind == "Agent")
    diags += checks.inline_secrets(mine)
    diags += checks.urls(mine)
    for r in mine:  # each HTTP tool against the tools policy it is applied with
        if r.kind == "Tool":
            diags += checks.tool_env([r], r.model.policy or ToolPolicy())
        if r.kind == "CompliancePolicy":  # a file list is applied as its numbers, never read by the runner
            diags += [Diagnostic(r.file, 1, 1, "CB102", r.address,
                                 f"do_not_call[{i}]: the file source {s.path!r} carries no numbers",
                                 "plan it with a cb that applies a file's numbers with its policy")
                      for i, s in enumerate(r.model.spec.do_not_call) if s.type == "file" and not s.sha256]
    errors = [d for d in diags if d.severity == "error"]
    if errors:
        lines = [f"{d.address}: {d.code} {d.message}" + (f" ({d.hint})" if d.hint else "") for d in errors]
        raise StateError("the change set was refused, nothing was applied: it does not pass `cb validate`:\n  "
                         + "\n  ".join(lines))
