"""Text renderings of history and of the difference between two revisions (`cb history`, `cb diff`)."""

from __future__ import annotations

import json
from typing import Any

from .diff import field_changes
from .redact import hide, sensitive_path


def history_text(revisions: list[dict[str, Any]]) -> str:
    if not revisions:
        return "No revisions."
    lines = []
    for r in revisions:
        cause = r.get("cause") or {}
        why = []
        if cause.get("commit"):
            why.append(f"commit {cause['commit'][:12]}" + (" (dirty)" if cause.get("dirty") else ""))
        if cause.get("author"):
            why.append(f"author {cause['author']}")
        if cause.get("branch"):
            why.append(f"branch {cause['branch']}")
        if cause.get("pull_request"):
            why.append(f"PR #{cause['pull_request']}")
        if cause.get("message"):
            why.append(f"\"{cause['message']}\"")
        moved = f" (from {r['moved_from']})" if r.get("moved_from") else ""
        hash_ = (r.get("hash") or "-")[:12]
        lines.append(f"r{r['id']:<5} serial {r['serial']:<5} {r['applied_at']}  {r['address']}{moved}  {r['action']:<6} "
                     f"{hash_}  {r['source']} by {r['applied_by']}" + (f"  [{'; '.join(why)}]" if why else ""))
    return "\n".join(lines)


def diff_text(left: dict[str, Any], right: dict[str, Any]) -> str:
    name_l = f"{left['address']}@r{left['id']}"
    name_r = f"{right['address']}@r{right['id']}"
    changes = field_changes(left.get("content"), right.get("content"))
    if not changes:
        return f"{name_l} and {name_r} are identical (content {str(left.get('hash'))[:12]})."
    out = [f"--- {name_l} (serial {left['serial']}, {left['source']})", f"+++ {name_r} (serial {right['serial']}, {right['source']})"]
    for f in changes:
        if f.diff and not sensitive_path(f.path):
            out.append(f"{f.path}:")
            out += ["  " + line for line in f.diff.splitlines()[2:]]
        else:
            before = hide(f.before) if sensitive_path(f.path) else f.before
            after = hide(f.after) if sensitive_path(f.path) else f.after
            out.append(f"{f.path}: {json.dumps(before)} -> {json.dumps(after)}")
    return "\n".join(out)
