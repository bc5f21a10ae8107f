from __future__ import annotations

import click

from .common import connect, runner_options
from .errors import EXIT_CHANGES


def split_ref(value: str) -> tuple[str, str]:
    if "@" not in value or not value.rsplit("@", 1)[1]:
        raise click.UsageError(f"{value!r}: expected ADDRESS@REV, e.g. agent.front-desk@3 (a serial), @r12 (a revision id), "
                        "@3f2a9c (a content hash prefix) or @live")
    address, ref = value.rsplit("@", 1)
    return address, ref


@click.command()
@click.argument("left")
@click.argument("right")
@runner_options
def diff(left: str, right: str, runner_url: str | None, token_file: str | None) -> None:
    """Show how two revisions differ: cb diff agent.front-desk@3 agent.front-desk@live.

    Exit 0 when identical, 2 when they differ (like `diff`), 1 on error.
    """
    from cb.plan.revisions import diff_text

    with connect(runner_url, token_file) as client:
        a = client.revision(*split_ref(left))
        b = client.revision(*split_ref(right))
    click.echo(diff_text(a, b))
    if a.get("hash") != b.get("hash"):
        raise SystemExit(EXIT_CHANGES)
