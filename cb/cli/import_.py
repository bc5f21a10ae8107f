from __future__ import annotations

import click

from .common import connect, load_valid_project, runner_options
from .errors import UserError


@click.command("import")
@click.argument("address")
@runner_options
def import_(address: str, runner_url: str | None, token_file: str | None) -> None:
    """Adopt an existing resource (e.g. a number the Twilio account already holds) into state.

    The document for ADDRESS must be in the configuration. Nothing at the provider changes;
    the next `cb plan` shows what applying would change there.
    """
    from cb.cause import applied_by, change_cause

    project = load_valid_project()
    resource = project.resources.get(address)
    if resource is None:
        raise UserError(f"{address} is not in the configuration; add its document first, then import it")
    with connect(runner_url, token_file, project) as client:
        lock = client.lock(applied_by(), f"import {address}")
        try:
            out = client.import_({"address": address, "kind": resource.kind, "name": resource.name,
                                  "content": resource.canonical(), "cause": change_cause(project.root),
                                  "applied_by": applied_by(), "lock_id": lock["id"]})
        finally:
            client.unlock(lock["id"])
    for field, value in (out.get("held") or {}).items():
        click.echo(f"  {field}: {value}")
    click.echo(f"Imported {address}: state serial {out['serial']}. Run `cb plan` to see what apply would change.")
