from __future__ import annotations

import sys

import click

from .common import connect, runner_options
from .errors import UserError


@click.command()
@click.argument("address")
@click.option("--to", "ref", required=True, help="The revision: a serial, r<id>, a content hash prefix (see cb history).")
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option("-m", "--message", help="Why: recorded on the new revision.")
@runner_options
def rollback(address: str, ref: str, auto_approve: bool, message: str | None, runner_url: str | None,
             token_file: str | None) -> None:
    """Make ADDRESS equal to an earlier revision again: a new revision, through plan and apply.

    History is never rewritten; the rollback is itself a revision (source rollback), and the next
    `cb plan` from git shows it as drift until git catches up or --overwrite-drift reverts it.
    """
    from cb.apply.run import ApplyFailed, apply_plan
    from cb.cause import applied_by
    from cb.plan.render_text import render_text
    from cb.plan.rollback import rollback_plan

    with connect(runner_url, token_file) as client:
        plan = rollback_plan(client, address, ref, message)
        click.echo(render_text(plan))
        if not plan.has_changes:
            return
        if not auto_approve:
            if not sys.stdin.isatty():
                raise UserError("refusing to roll back without confirmation: pass --auto-approve")
            click.confirm(f"Roll {address} back to {ref}?", abort=True)
        try:
            result = apply_plan(client, plan, source="rollback", cause=plan.cause, applied_by=applied_by(), echo=click.echo)
        except ApplyFailed as exc:
            raise UserError(str(exc)) from None
    click.echo(f"Rolled back {address} to {ref}: state serial {result['serial']}.")
