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
@click.option("--state", "state_dir", type=click.Path(file_okay=False),
              help="Verify a state folder (state.db) directly, e.g. a backup, without a runner.")
@runner_options
def verify(fmt: str, state_dir: str | None, runner_url: str | None, token_file: str | None) -> None:
    """Recompute the hash chain and every content hash; exit 1 naming the first broken link."""
    if state_dir:
        from pathlib import Path

        from cb.state import open_store
        from cb.state.audit import verify as verify_store

        if not (Path(state_dir) / "state.db").is_file():
            raise UserError(f"{state_dir} holds no state.db; pass the runner's state folder (default .cb/)")
        store = open_store(state_dir)
        try:
            result = verify_store(store).to_dict()
        finally:
            store.close()
    else:
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
