"""`cb calls list|show|export`: what happened on each call, from the runner's state database."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .errors import UserError

STATE_HELP = "State folder holding state.db. Default: .cb/ in the project root."


def _state(state_dir: str | None) -> Path:
    from cb.config.project import find_root

    return Path(state_dir) if state_dir else (find_root(Path.cwd()) or Path.cwd()) / ".cb"


def _view(fn, state_dir: str | None, *args, **kwargs):
    from cb.runner import callview

    folder = _state(state_dir)
    try:
        return fn(callview, folder, *args, **kwargs)
    except callview.NoStateDatabase:
        raise UserError(f"no state database at {folder / 'state.db'}\n"
                        "fix: pass --state with the runner's state folder, or run from the project") from None


def _call(state_dir: str | None, call_id: str) -> dict:
    call = _view(lambda cv, folder: cv.show_call(folder, call_id), state_dir)
    if call is None:
        raise UserError(f"no call {call_id!r} in this runner's records\nfix: `cb calls list` shows the ids")
    return call


@click.group()
def calls() -> None:
    """Calls the runner handled: transcript, tool calls, returns, latency, revision."""


@calls.command("list")
@click.option("--state", "state_dir", type=click.Path(file_okay=False), help=STATE_HELP)
@click.option("--agent", help="Only calls of this agent (name or address).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def list_(state_dir: str | None, agent: str | None, limit: int, fmt: str) -> None:
    """List calls, newest first."""
    rows = _view(lambda cv, folder: cv.list_calls(folder, limit=limit, agent=agent), state_dir)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no calls yet")
        return
    click.echo(f"{'ID':<26} {'CREATED':<20} {'AGENT':<22} {'REVISION':<13} {'STATUS':<11} {'SECS':>6}  {'RETURNS':<7} END")
    for r in rows:
        secs = "-" if r["duration_sec"] is None else f"{r['duration_sec']:.0f}"
        click.echo(f"{r['id']:<26} {r['created_at'][:19]:<20} {r['agent']:<22} {r['revision'][:12]:<13} "
                   f"{r['status']:<11} {secs:>6}  {r['returns'] or '-':<7} {r['end_reason'] or ''}")


@calls.command()
@click.argument("call_id")
@click.option("--state", "state_dir", type=click.Path(file_okay=False), help=STATE_HELP)
def show(call_id: str, state_dir: str | None) -> None:
    """Show one call: transcript, tool calls, returns, per-turn latency, revision, webhooks."""
    from cb.runner.callview_text import render

    click.echo(render(_call(state_dir, call_id)))


@calls.command()
@click.argument("call_id")
@click.option("--state", "state_dir", type=click.Path(file_okay=False), help=STATE_HELP)
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="Write to a file instead of stdout.")
def export(call_id: str, state_dir: str | None, out: str | None) -> None:
    """Everything about one call as JSON (the record, transcript, tools, returns, latency, webhooks)."""
    text = json.dumps(_call(state_dir, call_id), indent=2, default=str) + "\n"
    if out:
        Path(out).write_text(text)
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text, nl=False)
