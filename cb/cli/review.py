"""`cb review`: one pull-request comment with the plan (prompt diffs included) and, for every
scenario, its verdict before (the live revision) and after (this change); exit 1 on a failure,
so the PR check fails on a regression."""

from __future__ import annotations

from pathlib import Path

import click

from .common import connect, load_valid_project, runner_options
from .test import EXIT_FAILED, EXIT_PASSED, affected, load_for_test, plan_for

#: GitHub's limit is 65,536 characters; the comment stays under this.
COMMENT_LIMIT = 65_000
#: What the test table may take at most, so the plan keeps most of the room.
TESTS_SHARE = 20_000


def comment(plan_markdown: str, tests_markdown: str) -> str:
    """The plan, then the tests; the plan is cut at a line (and says so) if both do not fit."""
    room = COMMENT_LIMIT - len(tests_markdown) - 200
    if len(plan_markdown) > room:
        cut = plan_markdown[:room].rsplit("\n", 1)[0]
        plan_markdown = cut + "\n\n… the plan is cut here to fit the comment; run `cb plan` for all of it.\n"
    return plan_markdown.rstrip() + "\n\n" + tests_markdown


@click.command()
@click.option("--repeat", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="Run each scenario N times, before and after.")
@click.option("--changed", is_flag=True, help="Only scenarios whose agent (or its tools, return schema) the plan changes.")
@click.option("--llm", type=click.Choice(["scenario", "agent"]), default="scenario", show_default=True,
              help="As for cb test.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the comment here (else standard output).")
@runner_options
def review(repeat: int, changed: bool, llm: str, out: str | None, runner_url: str | None, token_file: str | None) -> None:
    """Write the pull-request comment: the plan and the agents' tests before and after the change.

    Runs `cb plan --format markdown` and `cb test --baseline live --format markdown` against the
    same runner and joins them in one comment under GitHub's 65,536-character limit. Exit 0: every
    scenario passes after the change; 1: one fails (a regression among them); 2: usage error.

    \b
    Example (a PR check):
      cb review --out comment.md && gh pr comment "$PR" --body-file comment.md
    """
    from cb.plan.planner import render
    from cb.runner.testing import run_suite
    from cb.testing.report import all_passed, render_markdown

    project = load_valid_project()
    project, scenarios = load_for_test(())
    with connect(runner_url, token_file, project) as client:
        plan = plan_for(project, client)
        if changed:
            scenarios = affected(plan, project, scenarios)
        results = run_suite(scenarios, project, repeat=repeat, use_scenario_llm=llm == "scenario",
                            live=client.contents)
    tests = render_markdown(results, budget=TESTS_SHARE) if results else \
        "## Agent tests\n\nNo scenario tests an agent this change touches.\n"
    text = comment(render(plan, "markdown"), tests)
    if out:
        Path(out).write_text(text)
    else:
        click.echo(text)
    raise SystemExit(EXIT_PASSED if all_passed(results) else EXIT_FAILED)
