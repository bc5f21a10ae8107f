from __future__ import annotations

import json

import click

from .common import connect, runner_options
from .errors import UserError


@click.group()
def audit() -> None:
    """Prove that history was not rewritten."""


@audit.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@runner_options
def verify(fmt: str, runner_url: str | None, token_file: str | None) -> None:
    """Recompute the hash chain and every content hash; exit 1 naming the first broken link."""
    with connect(runner_url, token_file) as client:
        result = client.audit()
    if fmt == "json":
        click.echo(json.dumps(result, indent=2, sort_keys=True))
    if not result["ok"]:
        where = f"revision r{result['broken_at']} ({result['address']})" if result.get("broken_at") else "the chain head"
        raise UserError(f"audit FAILED at {where}: {result['reason']}. {result['checked']} revisions checked; "
                        "history was changed outside cb")
    if fmt == "text":
        click.echo(f"audit OK: {result['checked']} revisions, chain intact, lineage {result['lineage']}, "
                   f"serial {result['serial']}")
