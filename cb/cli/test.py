"""`cb test`: run the project's scenarios against its agents and report; `--baseline live` runs
them against the runner's live revisions too and marks regressions and fixes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .common import runner_options

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _usage(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(EXIT_USAGE)


def load_for_test(paths: tuple[str, ...]) -> tuple[Any, list[Any]]:
    """The valid project and its valid scenarios (or those under ``paths``); exit 2 on bad input."""
    from cb.config.diagnostics import render_text
    from cb.config.project import find_root, load_project
    from cb.config.scenarios import load_scenarios

    start = Path(paths[0]).resolve() if paths else Path.cwd()
    root = find_root(start if start.is_dir() else start.parent) or Path.cwd()
    project, diags = load_project(None, root)
    scenarios, more = load_scenarios(project, list(paths) or None)
    errors = [d for d in diags + more if d.severity == "error"]
    if errors:
        click.echo(render_text(errors, len(project.files), len(project.resources)), err=True)
        _usage("the configuration or the scenarios have errors (above); nothing was run")
    if not scenarios:
        folders = ", ".join(f"{f}/" for f in project.settings.scenarios)
        _usage(f"no scenarios found (looked in {', '.join(paths) if paths else folders}): "
               "a test run that tests nothing is not a pass")
    return project, scenarios


def affected(plan: Any, project: Any, scenarios: list[Any]) -> list[Any]:
    """The scenarios whose agent, one of its tools or its return schema ``plan`` changes."""
    def touched(agent: str) -> bool:
        spec = project.get("Agent", agent).spec
        mine = {f"agent.{agent}", *(f"tool.{t}" for t in spec.tools)}
        if isinstance(spec.returns, str):
            mine.add(f"return_schema.{spec.returns}")
        return any(c.address in mine and c.actions != ["no-op"] for c in plan.changes)

    return [s for s in scenarios if touched(s.spec.agent)]


def plan_for(project: Any, client: Any) -> Any:
    """The plan of ``project`` against the runner ``client`` talks to (what cb plan shows)."""
    from cb.cause import change_cause
    from cb.plan.planner import make_plan

    from .errors import UserError

    plan = make_plan(project, client, cause=change_cause(project.root, None))
    if plan.errors:
        raise UserError("cannot plan:\n  " + "\n  ".join(plan.errors))
    return plan


def live_contents(runner_url: str | None, token_file: str | None, project: Any) -> Any:
    """A function addresses -> live contents, through the runner's admin API."""
    from cb.client import RunnerClient, RunnerError, resolve_token, resolve_url

    client = RunnerClient(resolve_url(runner_url, project.settings.runner.url), resolve_token(token_file))

    def contents(addresses: list[str]) -> dict[str, Any]:
        try:
            return client.contents(addresses)
        except RunnerError as exc:
            _usage(f"cannot read the live revisions for the baseline: {exc}")
            raise  # pragma: no cover - _usage exits

    contents.close = client.close  # type: ignore[attr-defined]
    return contents


def simulated_caller(url: str, token: str, *, lines: list[str], **kw: Any) -> Any:
    """The local plugin's simulated caller speaking ``lines``: what ``cb test --audio`` calls with."""
    from cb.plugins.local.caller import Line, SimulatedCaller

    return SimulatedCaller(url, token, lines=[Line(line) for line in lines], **kw)


def run(project: Any, scenarios: list[Any], repeat: int, llm: str, baseline: str | None,
        runner_url: str | None, token_file: str | None, audio: bool = False) -> list[Any]:
    from cb.runner.testing import run_suite

    live = live_contents(runner_url, token_file, project) if baseline == "live" else None
    try:
        return run_suite(scenarios, project, repeat=repeat, use_scenario_llm=llm == "scenario", live=live,
                         audio=simulated_caller if audio else None)
    finally:
        if live is not None:
            live.close()


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--repeat", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="Run each scenario N times and report the pass rate; any failing run fails the scenario.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "junit", "markdown"]), default="text",
              show_default=True, help="junit is JUnit XML for CI systems; markdown is sized for a PR comment.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the report here (else standard output).")
@click.option("--llm", type=click.Choice(["scenario", "agent"]), default="scenario", show_default=True,
              help="scenario: a scenario's own `llm` (e.g. the scripted LLM) where it has one; agent: always the "
                   "agent's own LLM.")
@click.option("--baseline", type=click.Choice(["live"]), help="Also run each scenario against the runner's live "
              "revision of its agent and mark regressions (passed before, fails now) and fixes.")
@click.option("--audio", is_flag=True, help="Run each scenario as a real call: a runner on 127.0.0.1, the local "
              "simulated caller's speech over the Media Streams protocol; judged from the call record.")
@click.option("--changed", is_flag=True, help="Only scenarios whose agent (or its tools, return schema) the plan "
              "against the runner changes, as `cb review --changed`.")
@runner_options
def test(paths: tuple[str, ...], repeat: int, fmt: str, out: str | None, llm: str, baseline: str | None,
         audio: bool, changed: bool, runner_url: str | None, token_file: str | None) -> None:
    """Run scenarios: simulated calls to the agents, judged by their assertions.

    PATHS are scenario files or folders (default: cb.yaml's `scenarios:`, else scenarios/). Text mode:
    the agent's real rendered prompt, its tools as the runner declares and runs them (HTTP
    endpoints stubbed on 127.0.0.1 with the scenario's responses), its LLM, and the runner's returns
    extraction; no audio. Exit 0: every run of every scenario passed; 1: a failure; 2: usage error
    (bad scenario or config, nothing to run, runner unreachable for --baseline).

    \b
    Examples:
      cb test
      cb test scenarios/front-desk --repeat 5
      cb test --format junit --out report.xml
      cb test --baseline live --format markdown
      cb test --changed --baseline live
    """
    from cb.testing.report import all_passed, render

    project, scenarios = load_for_test(paths)
    from cb.config.diagnostics import render_text as render_diagnostics
    from cb.config.scenarios import audio_only, text_only

    refused = [d for s in scenarios for d in (text_only(s) if audio else audio_only(s))]
    if audio and refused:
        click.echo(render_diagnostics(refused, len(scenarios), len(scenarios)), err=True)
        _usage("these scenarios run in text mode only (above): run them without --audio; nothing was run")
    if not audio:
        if refused:
            click.echo(render_diagnostics(refused, len(scenarios), len(scenarios)), err=True)
            _usage("these assertions need an audio call (above): run with --audio; nothing was run")
    if changed:
        from .common import connect

        with connect(runner_url, token_file, project) as client:
            scenarios = affected(plan_for(project, client), project, scenarios)
        if not scenarios:
            click.echo("No scenario tests an agent, tool or return schema this change touches: nothing to run.")
            raise SystemExit(EXIT_PASSED)
    results = run(project, scenarios, repeat, llm, baseline, runner_url, token_file, audio)
    text = render(results, fmt)
    if out:
        Path(out).write_text(text)
        click.echo(render(results, "text").splitlines()[-1], err=True)
    else:
        click.echo(text)
    raise SystemExit(EXIT_PASSED if all_passed(results) else EXIT_FAILED)
