from __future__ import annotations

import click

from .common import connect, project_to_plan, runner_options
from .errors import EXIT_CHANGES, EXIT_OK, UserError


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())  # a targeted plan: only resources defined there
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True,
              help="markdown is sized for a pull-request comment.")
@click.option("--out", "out", type=click.Path(dir_okay=False), help="Save the plan for `cb apply FILE`.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0: no changes, 1: error, 2: changes (including changes held back by drift).")
@click.option("--overwrite-drift", is_flag=True, help="Revert changes made outside git (watch, rollback, provider console).")
@click.option("--locked", is_flag=True, help="Fail if the configuration no longer matches cb.lock.")
@click.option("-m", "--message", help="Why: recorded on the revisions when this plan is applied.")
@runner_options
def plan(paths: tuple[str, ...], fmt: str, out: str | None, detailed_exitcode: bool, overwrite_drift: bool,
         locked: bool, message: str | None, runner_url: str | None, token_file: str | None) -> None:
    """Show what applying the configuration would change on the runner and the number providers.

    PATHS (files or folders) target the plan at the resources defined there; nothing else is
    changed or deleted. The whole project is still validated.

    \b
    Examples:
      cb plan
      cb plan --format markdown > plan.md
      cb plan --out plan.cbplan --detailed-exitcode
      cb plan agents/front-desk.yaml
    """
    from cb.cause import change_cause
    from cb.plan.planner import make_plan, render, save

    project = project_to_plan(locked, paths)
    with connect(runner_url, token_file, project) as client:
        result = make_plan(project, client, overwrite_drift=overwrite_drift,
                           cause=change_cause(project.root, message), targeted=bool(paths))
        stale = (client.readiness().get("do_not_call_stale") or {}) if hasattr(client, "readiness") else {}
    for name, sources in sorted(stale.items()):  # the runner's do-not-call URLs whose last fetch failed
        for s in sources:
            kept = (f"calls use the list fetched at {s['last_refresh']}" if s.get("cached")
                    else "no list was ever read, so every call of the policy is refused")
            click.echo(f"warning: compliance_policy.{name} do_not_call[{s['source']}]: its URL could not be read "
                       f"({s.get('error')}); {kept}", err=True)
    if result.errors:
        raise UserError("cannot plan:\n  " + "\n  ".join(result.errors))
    click.echo(render(result, fmt))
    if out:
        save(result, out)
        click.echo(f"Saved the plan to {out}; apply it with: cb apply {out}", err=True)
    if detailed_exitcode and (result.has_changes or result.held_back):
        raise SystemExit(EXIT_CHANGES)
    raise SystemExit(EXIT_OK)
