"""The plan as a pull-request comment: readable in 30 seconds, always under 65,000 characters.

GitHub rejects comments over 65,536 characters, so detail is dropped in steps until it fits:
first the field diffs of the largest changes become one-line summaries, then the list of
addresses is cut with a count of what was left out. The summary line always stays.
"""

from __future__ import annotations

from cb.contracts.plan_document import Plan, ResourceChange

from .redact import sensitive_path
from .render_text import drift_line, release_note, shown, summary, value, visible_fields

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
            f"State serial {plan.serial}" + (f" · commit `{plan.cause['commit'][:12]}`" if plan.cause.get("commit") else "")
            + (f" · branch `{plan.cause['branch']}`" if plan.cause.get("branch") else "")
            + (" · **uncommitted changes (dirty tree)**" if plan.cause.get("dirty") else ""), ""]
    if plan.errors:
        head += ["**Errors:**", *[f"- {e}" for e in plan.errors], ""]
    if not shown_changes:
        return "\n".join(head + ["No changes. The runner matches the configuration."]) + "\n"
    drift = [f"- `{c.address}`: {drift_line(c)}" + (" — **held back**" if c.skipped else " — will be overwritten")
             for c in shown_changes if c.drift]
    drift += [f"- `{c.address}`: {c.note}" for c in shown_changes if c.note]
    drift += [f"- `{c.address}`: **{release_note(c.before)}**" for c in shown_changes
              if c.kind == "Number" and c.actions == ["delete"] and c.before and not c.skipped]
    table = ["| address | change | fields |", "|---|---|---|", *[_row(c) for c in shown_changes]]
    details = {c.address: _details(c) for c in shown_changes if visible_fields(c)}

    def wrap(address: str, text: str) -> str:
        return f"<details><summary><code>{address}</code></summary>\n\n{text}\n\n</details>"

    def assemble(detail_of: dict[str, str], rows: list[str]) -> str:
        body = head + (["**Needs attention:**", *drift, ""] if drift else []) + rows + [""]
        body += [wrap(address, text) for address, text in detail_of.items()]
        return "\n".join(body) + "\n"

    # Sizes are kept as running totals so that summarising thousands of changes stays linear.
    base = len(assemble({}, table))
    size = {a: len(wrap(a, t)) + 1 for a, t in details.items()}
    total = base + sum(size.values())
    by_change = {c.address: c for c in shown_changes}
    for address in sorted(details, key=lambda a: -size[a]):  # summarise the biggest first
        if total <= LIMIT:
            break
        details[address] = f"_{len(by_change[address].fields)} field changes, too long for a comment: run `cb plan` to see them._"
        new = len(wrap(address, details[address])) + 1
        total += new - size[address]
        size[address] = new
    if total <= LIMIT:
        return assemble(details, table)
    # Still too long: drop the details, then cut the table.
    rows, used = table[:2], base - sum(len(r) + 1 for r in table[2:])
    budget = LIMIT - used - 200
    for row in table[2:]:
        if budget - (len(row) + 1) < 0:
            break
        rows.append(row)
        budget -= len(row) + 1
    left = len(table) - len(rows)
    if left:
        rows.append(f"| … and {left} more | run `cb plan` for all | |")
    return assemble({}, rows)
