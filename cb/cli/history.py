from __future__ import annotations

import json

import click

from .common import connect, runner_options


@click.command()
@click.argument("address", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@runner_options
def history(address: str | None, fmt: str, runner_url: str | None, token_file: str | None) -> None:
    """Every revision ever live, oldest first, with who applied it, from which commit and why.

    ADDRESS (e.g. agent.front-desk) limits it to one resource, following `moved` renames back.
    """
    from cb.plan.redact import redact
    from cb.plan.revisions import history_text

    with connect(runner_url, token_file) as client:
        revisions = client.history(address)
    if fmt == "json":
        click.echo(json.dumps({"revisions": redact(revisions)}, indent=2, sort_keys=True))
    else:
        click.echo(history_text(revisions))
