"""NO_COLOR (https://no-color.org): set and not empty, no ANSI colour anywhere cb prints (issue 11)."""

from __future__ import annotations

import click
from click.testing import CliRunner

from cb import colour
from cb.cli import COMMANDS, cli
from cb.plan.render_text import render_text
from tests.support.plans import sample_plan


@click.command()
def paint() -> None:
    click.echo(click.style("red", fg="red"))


def test_plan_text_is_plain_under_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert "\x1b[" in render_text(sample_plan())
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in render_text(sample_plan())


def test_an_empty_no_color_keeps_colour(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "")
    assert colour.enabled() and "\x1b[" in colour.style("x", fg="red")


def test_the_cli_strips_colour_even_on_a_terminal(monkeypatch):
    monkeypatch.setitem(COMMANDS, "paint", "tests.test_no_color:paint")
    forced = CliRunner().invoke(cli, ["paint"], color=True, env={"NO_COLOR": None})
    assert "\x1b[31m" in forced.output  # a terminal gets colour...
    plain = CliRunner().invoke(cli, ["paint"], color=True, env={"NO_COLOR": "1"})
    assert plain.output == "red\n"  # ...unless NO_COLOR says no
