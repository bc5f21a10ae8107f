"""`cb webhooks list|replay`: look into the durable outbox and send a delivery again."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import click

from .errors import UserError

STATE_HELP = "State folder holding state.db. Default: .cb/ in the project root."


def open_outbox(state_dir: str | None):
    """The outbox of an existing state database; never creates one (a typo must not)."""
    from cb.config.project import find_root
    from cb.runner.webhooks import Outbox

    folder = Path(state_dir) if state_dir else (find_root(Path.cwd()) or Path.cwd()) / ".cb"
    if not (folder / "state.db").is_file():
        raise UserError(f"no state database at {folder / 'state.db'}\n"
                        "fix: pass --state with the runner's state folder, or run from the project")
    return Outbox.open(folder)


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


@click.group()
def webhooks() -> None:
    """Webhook deliveries owed, sent and dead (the durable outbox)."""


@webhooks.command("list")
@click.option("--state", "state_dir", type=click.Path(file_okay=False), help=STATE_HELP)
@click.option("--status", type=click.Choice(["held", "pending", "delivering", "delivered", "dead"]))
@click.option("--call", "call_id", help="Only deliveries for this call id.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def list_(state_dir: str | None, status: str | None, call_id: str | None, limit: int, fmt: str) -> None:
    """List deliveries, newest first. Bodies are not shown (they may hold personal data)."""
    box = open_outbox(state_dir)
    rows = box.list(status=status, call_id=call_id, limit=limit)
    if fmt == "json":
        click.echo(json.dumps([r.summary() for r in rows], indent=2))
        return
    if not rows:
        click.echo("no webhook deliveries" + (f" with status {status}" if status else ""))
        return
    click.echo(f"{'ID':<28} {'STATUS':<10} {'TRIES':>5}  {'CALL':<24} {'EVENT':<15} {'CREATED':<20} LAST ERROR")
    for r in rows:
        tries = f"{r.attempts}/{r.max_attempts}"
        click.echo(f"{r.id:<28} {r.status:<10} {tries:>5}  {r.call_id:<24} {r.event:<15} "
                   f"{_when(r.created_at):<20} {(r.last_error or '')[:60]}")


@webhooks.command()
@click.argument("delivery_id")
@click.option("--state", "state_dir", type=click.Path(file_okay=False), help=STATE_HELP)
def replay(delivery_id: str, state_dir: str | None) -> None:
    """Send a delivery again (dead or delivered), with fresh attempts and the same idempotency key."""
    box = open_outbox(state_dir)
    row = box.find(delivery_id)
    if row is None:
        raise UserError(f"no webhook delivery with id {delivery_id!r} (or the prefix matches several)\n"
                        "fix: `cb webhooks list` shows the ids")
    row = box.replay(row.id)
    click.echo(f"queued {row.id} for call {row.call_id} to {row.url}; a running runner (or "
               f"`python -m cb.runner.webhooks.worker --state DIR`) sends it within a second")
