from __future__ import annotations

import click

from .common import connect, runner_options


@click.command("force-unlock")
@click.argument("lock_id")
@runner_options
def force_unlock(lock_id: str, runner_url: str | None, token_file: str | None) -> None:
    """Release a state lock left by an apply that died (the ID is in the lock error message).

    Only do this when the holder named in the error is really gone: two applies at once could
    interleave their changes.
    """
    with connect(runner_url, token_file) as client:
        client.unlock(lock_id)
    click.echo(f"Released lock {lock_id}.")
