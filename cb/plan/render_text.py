"""The plan for a terminal: one line per change, field changes under it, prompts as diffs.

Styled with cb.colour (plain under NO_COLOR); click.echo strips the colour when the output is not a
terminal.
"""

from __future__ import annotations

import json
from typing import Any

from cb import colour as ansi
from cb.contracts.plan_document import Plan, ResourceChange

from .redact import HIDDEN, hide, sensitive_path, shorten

#: Fields every document has; repeating them under a create says nothing.
IMPLIED = {"apiVersion", "kind", "metadata.name"}
SYMBOL = {"create": ("+", "green"), "update": ("~", "yellow"), "delete": ("-", "red"), "move": (">", "cyan"),
          "no-op": (" ", None)}


def value(v: Any) -> str:
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False) if v != HIDDEN else v
    return json.dumps(v, sort_keys=True, ensure_ascii=False)


def shown(path: str, v: Any) -> Any:
    return hide(v) if sensitive_path(path) else shorten(v)


def summary(plan: Plan) -> str:
    n = plan.counts()
    parts = [f"{n['create']} to create", f"{n['update']} to update", f"{n['delete']} to delete"]
    if n["move"]:
        parts.append(f"{n['move']} to move")
    line = "Plan: " + ", ".join(parts) + f", {n['no-op']} unchanged."
    if n["drift"]:
        line += f" {n['drift']} changed outside git, held back (--overwrite-drift to revert)."
    return line


def visible_fields(c: ResourceChange) -> list:
    """The field changes worth showing: a create skips what every document has and empty defaults,
    a delete shows none (the whole resource goes)."""
    if "delete" in c.actions:
        return []
    if "create" in c.actions:
        return [f for f in c.fields if f.path not in IMPLIED and f.after not in ({}, [], None)]
    return c.fields


def change_lines(c: ResourceChange, indent: str = "    ") -> list[str]:
    out = []
    for f in visible_fields(c):
        if f.diff and not sensitive_path(f.path):
            out.append(f"{indent}{f.path}:")
            for line in f.diff.splitlines():
                colour = "green" if line.startswith("+") and not line.startswith("+++") else \
                    "red" if line.startswith("-") and not line.startswith("---") else None
                out.append(indent + "  " + ansi.style(line, fg=colour))
        elif "create" in c.actions:
            if isinstance(f.after, str) and "\n" in f.after and not sensitive_path(f.path):
                out.append(f"{indent}{f.path} = |")
                out += [f"{indent}  " + ansi.style(line, fg="green") for line in f.after.splitlines()]
            else:
                out.append(f"{indent}{f.path} = {value(shown(f.path, f.after))}")
        else:
            out.append(f"{indent}{f.path}: {value(shown(f.path, f.before))} -> {value(shown(f.path, f.after))}")
    return out


def release_note(before: dict) -> str:
    spec = before.get("spec") or {}
    if spec.get("provider", "local") == "local":
        return "the local number is removed from the runner"
    if spec.get("purchase"):
        return f"RELEASES {spec.get('number')} at {spec.get('provider')} (it was bought with purchase: true)"
    return f"stops managing {spec.get('number')}; it stays in the {spec.get('provider')} account as it is"


def drift_line(c: ResourceChange) -> str:
    d = c.drift or {}
    what = (f"changed via {d['source']} by {d.get('by')} at {d.get('at')}" if d.get("source")
            else f"changed {d.get('by')}" + (f", last changed there at {d['at']}" if d.get("at") else ""))
    if d.get("message"):
        what += f" ({d['message']!r})"
    if d.get("missing"):
        what += f"; the {d.get('provider')} account no longer holds it"
    for field, (have, want) in (d.get("differences") or {}).items():
        what += f"; {field} is {value(have)} there, cb sets {value(want)}"
    return what


def render_text(plan: Plan, verbose_noop: bool = False) -> str:
    lines = [f"Runner {plan.runner} · state serial {plan.serial} · lineage {plan.lineage}", ""]
    if plan.targeted:
        lines[-1:] = ["Targeted: only the resources in the given files; nothing else is deleted.", ""]
    for c in plan.changes:
        if c.actions == ["no-op"] and not c.drift and not verbose_noop:
            continue
        action = "move" if "move" in c.actions else c.actions[0]
        sym, colour = SYMBOL[action]
        label = " + ".join(c.actions)
        head = f"{sym} {c.address}" + (f" (from {c.moved_from})" if c.moved_from else "")
        if c.skipped:
            lines.append(ansi.style(f"! {c.address}", fg="magenta", bold=True) + f"  {label} held back: drift")
        else:
            lines.append(ansi.style(head, fg=colour, bold=bool(colour)) + ("" if action == "no-op" else f"  {label}"))
        if c.kind == "Number" and c.actions == ["delete"] and c.before:
            lines.append(f"    {release_note(c.before)}")
        if c.drift:
            lines.append(ansi.style(f"    drift: {drift_line(c)}", fg="magenta"))
        if c.note:
            lines.append(f"    {c.note}")
        if c.skipped:
            lines.append(f"    {c.skipped}; it would change:")
        lines += change_lines(c)
    if len(lines) == (4 if plan.targeted else 2):
        lines.append("No changes. The runner matches the configuration.")
    lines += ["", summary(plan)]
    return "\n".join(lines)
