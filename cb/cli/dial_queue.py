"""`cb calls list --queued`: the runner's dial queue (GET /v1/dial-queue), each waiting call with
when it may be dialled and the rule that holds it (runner/compliance; docs/compliance.md)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import click

from .errors import UserError


def _when(epoch: float | None) -> str:
    return "-" if epoch is None else datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def show_queue(runner_url: str | None, token_file: str | None, agent: str | None, fmt: str) -> None:
    from cb.client import RunnerError

    from .common import connect

    if not runner_url:
        raise UserError("--queued asks the runner (the queue is its database): pass --runner URL or set "
                        "CB_RUNNER_URL, not --state")
    address = agent if not agent or agent.startswith("agent.") else "agent." + agent
    with connect(runner_url, token_file) as client:
        try:
            entries = client.dial_queue(address)["queue"]
        except RunnerError as exc:
            raise UserError(f"cannot read the dial queue: {exc}") from None
    if fmt == "json":
        click.echo(json.dumps(entries, indent=2))
        return
    if not entries:
        click.echo("no calls waiting to be dialled")
        return
    click.echo(f"{'QUEUED':<24} {'AGENT':<22} {'TO':<16} {'STATUS':<9} {'NOT BEFORE':<21} REASON")
    for e in entries:
        click.echo(f"{e['id']:<24} {e['agent']:<22} {e['to_number']:<16} {e['status']:<9} "
                   f"{_when(e.get('not_before')):<21} {e.get('reason') or 'due now'}")
