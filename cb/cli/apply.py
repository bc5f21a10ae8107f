from __future__ import annotations

import sys

import click

from .common import connect, project_to_plan, runner_options
from .errors import UserError


@click.command()
@click.argument("planfile", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option("--overwrite-drift", is_flag=True, help="Revert changes made outside git.")
@click.option("--locked", is_flag=True, help="Fail if the configuration no longer matches cb.lock.")
@click.option("-m", "--message", help="Why: recorded on every revision this apply makes.")
@click.option("--paths", "paths", multiple=True, type=click.Path(), help="Apply only the resources defined in these files or folders (repeatable).")
@runner_options
def apply(planfile: str | None, auto_approve: bool, overwrite_drift: bool, locked: bool, message: str | None,
          paths: tuple[str, ...], runner_url: str | None, token_file: str | None) -> None:
    """Apply the configuration (or a saved plan) to the runner and the number providers.

    A saved plan applies exactly what it shows, and is refused once the state has moved.
    Without a plan file, cb plans, shows the plan and asks before applying.

    \b
    Examples:
      cb apply plan.cbplan
      cb apply --auto-approve -m "shorter greeting"
    """
    from cb.apply.run import ApplyFailed, apply_plan
    from cb.cause import applied_by, change_cause
    from cb.contracts.plan_document import Plan
    from cb.plan.planner import LockMismatch, check_plan_lock, make_plan, render

    project = None
    if planfile:
        try:
            saved = Plan.loads(open(planfile).read())
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(f"{planfile}: {exc}") from None
        if not saved.fingerprint:
            raise UserError(f"{planfile}: the plan has no state fingerprint, so the runner cannot tell which state it "
                            "was made against (was it edited?); make it again with `cb plan --out FILE`")
        if message:
            saved.cause["message"] = message
        if locked:
            from pathlib import Path

            from cb.config.project import find_root

            try:
                check_plan_lock(saved, find_root(Path.cwd()))
            except LockMismatch as exc:
                raise UserError(str(exc)) from None
    else:
        project = project_to_plan(locked, paths)
    with connect(runner_url, token_file, project) as client:
        if planfile is None:
            saved = make_plan(project, client, overwrite_drift=overwrite_drift, cause=change_cause(project.root, message),
                              targeted=bool(paths))
            if saved.errors:
                raise UserError("cannot plan:\n  " + "\n  ".join(saved.errors))
            click.echo(render(saved, "text"))
            if not saved.has_changes:
                if saved.held_back:
                    click.echo(held_back_line(saved))
                adopt(client, saved)
                return
            if not auto_approve:
                if not sys.stdin.isatty():
                    raise UserError("refusing to apply without confirmation: pass --auto-approve, or apply a saved plan")
                click.confirm("Apply these changes?", abort=True)
        elif not saved.has_changes and saved.held_back:
            # A merged PR whose plan does nothing must not pass silently (exit 1, as a failed apply).
            raise UserError(held_back_line(saved) + "\n  " + "\n  ".join(
                f"{c.address}: {c.skipped}" for c in saved.held_back))
        elif not saved.has_changes:
            click.echo("The plan has no changes; nothing to apply.")
            adopt(client, saved)
            return
        try:
            result = apply_plan(client, saved, source="apply", cause=saved.cause, applied_by=applied_by(), echo=click.echo)
        except ApplyFailed as exc:
            raise UserError(str(exc)) from None
    click.echo(f"Apply complete: {len(result['applied'])} changed; state serial {result['serial']}.")
    if saved.held_back:
        click.echo(held_back_line(saved))


def adopt(client, plan) -> None:
    """Git matches live revisions made outside it (a rollback git reverted to): record them as git's."""
    from cb.apply.run import apply_plan
    from cb.cause import applied_by

    adopted = [c.address for c in plan.changes if c.adopt]
    if adopted:
        apply_plan(client, plan, source="apply", cause=plan.cause, applied_by=applied_by(), echo=lambda _: None)
        click.echo(f"Git now matches the live {', '.join(adopted)}: recorded as applied from git (no content changed).")


def held_back_line(plan) -> str:
    n = len(plan.held_back)
    return (f"Nothing applied for {n} change{'s' if n != 1 else ''} held back by drift "
            f"({', '.join(c.address for c in plan.held_back)}): the live revision was changed outside git. "
            "Make git match live, or plan with --overwrite-drift to revert it.")
