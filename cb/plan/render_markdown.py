"""The plan as a pull-request comment: readable in 30 seconds, always under 65,000 characters.

GitHub rejects comments over 65,536 characters, so detail is dropped in steps until it fits:
first the field diffs of the largest changes become one-line summaries, then the list of
addresses is cut with a count of what was left out. The summary line always stays.
"""

from __future__ import annotations

from .model import Plan, ResourceChange
from .redact import sensitive_path
from .render_text import drift_line, shown, summary, value, visible_fields

LIMIT = 65_000
ICON = {"create": "🟢 create", "update": "🟡 update", "delete": "🔴 delete", "move": "🔵 move"}


def _details(c: ResourceChange) -> str:
    parts = []
    for f in visible_fields(c):
        if f.diff and not sensitive_path(f.path):
            parts.append(f"`{f.path}`\n```diff\n{f.diff.rstrip()}\n```")
        elif "create" in c.actions and isinstance(f.after, str) and "\n" in f.after and not sensitive_path(f.path):
            parts.append(f"`{f.path}`\n```\n{f.after.rstrip()}\n```")
        elif "create" in c.actions:
            parts.append(f"- `{f.path}` = `{value(shown(f.path, f.after))}`")
        else:
            parts.append(f"- `{f.path}`: `{value(shown(f.path, f.before))}` → `{value(shown(f.path, f.after))}`")
    return "\n".join(parts)


def _row(c: ResourceChange) -> str:
    action = " + ".join(ICON.get(a, a) for a in c.actions)
    if c.skipped:
        action = "⚠️ drift, held back"
    where = f"`{c.address}`" + (f" (from `{c.moved_from}`)" if c.moved_from else "")
    return f"| {where} | {action} | {len(visible_fields(c)) or '—'} |"


def render_markdown(plan: Plan) -> str:
    shown_changes = [c for c in plan.changes if c.is_change or c.drift]
    head = [f"### cb plan · {plan.project}", "", f"**{summary(plan)}**", "",
            f"State serial {plan.serial}" + (f" · commit `{plan.cause['commit'][:12]}`" if plan.cause.get("commit") else ""), ""]
    if plan.errors:
        head += ["**Errors:**", *[f"- {e}" for e in plan.errors], ""]
    if not shown_changes:
        return "\n".join(head + ["No changes. The runner matches the configuration."]) + "\n"
    drift = [f"- `{c.address}`: {drift_line(c)}" + (" — **held back**" if c.skipped else " — will be overwritten")
             for c in shown_changes if c.drift]
    table = ["| address | change | fields |", "|---|---|---|", *[_row(c) for c in shown_changes]]
    details = {c.address: _details(c) for c in shown_changes if visible_fields(c) and not c.skipped}

    def assemble(detail_of: dict[str, str], rows: list[str]) -> str:
        body = head + (["**Changed outside git (drift):**", *drift, ""] if drift else []) + rows + [""]
        for address, text in detail_of.items():
            body += [f"<details><summary><code>{address}</code></summary>", "", text, "", "</details>"]
        return "\n".join(body) + "\n"

    out = assemble(details, table)
    # Summarise the biggest details first until the comment fits.
    for address in sorted(details, key=lambda a: -len(details[a])):
        if len(out) <= LIMIT:
            return out
        n = next(c for c in shown_changes if c.address == address)
        details[address] = f"_{len(n.fields)} field changes, too long for a comment: run `cb plan` to see them._"
        out = assemble(details, table)
    if len(out) <= LIMIT:
        return out
    details = {}
    rows = list(table)
    while len(assemble({}, rows + ["| … | … | … |"])) > LIMIT:
        rows = rows[: max(2, len(rows) - max(1, len(rows) // 10))]
    left = len(table) - len(rows)
    return assemble({}, rows + [f"| … and {left} more | run `cb plan` for all | |"])
