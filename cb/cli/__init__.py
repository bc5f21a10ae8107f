"""The `cb` command. Each subcommand lives in its own module and is imported only when used."""

from __future__ import annotations

import importlib

import click

from cb import __version__, colour

from .errors import run_guarded

#: subcommand -> "module:function". One line per command; the module holds the command.
COMMANDS = {
    "validate": "cb.cli.validate:validate",
    "schema": "cb.cli.schema:schema",
    "runner": "cb.cli.runner:runner",
    "plan": "cb.cli.plan:plan",
    "apply": "cb.cli.apply:apply",
    "force-unlock": "cb.cli.force_unlock:force_unlock",
    "history": "cb.cli.history:history",
    "diff": "cb.cli.diff:diff",
    "rollback": "cb.cli.rollback:rollback",
    "audit": "cb.cli.audit:audit",
    "import": "cb.cli.import_:import_",
    "webhooks": "cb.cli.webhooks:webhooks",
    "calls": "cb.cli.calls:calls",
    "call": "cb.cli.call:call",
    "demo": "cb.cli.demo:demo",
    "test": "cb.cli.test:test",
    "review": "cb.cli.review:review",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="cb")
def cli() -> None:
    """Run AI phone agents from configuration kept in git.

    \b
    Typical flow:
      cb validate              check every YAML file in the project (file:line, a fix for each)
      cb plan                  show what would change on the runner and the providers
      cb apply                 make it so
    """
    if not colour.enabled():  # NO_COLOR: every echo below strips ANSI, on a terminal too
        click.get_current_context().color = False


def main() -> None:
    run_guarded(cli)
