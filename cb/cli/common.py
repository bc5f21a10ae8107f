"""What several control-plane commands share: finding the project, the runner and the cause."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from cb.client import RunnerClient, RunnerError, resolve_token, resolve_url

from .errors import UserError


def runner_options(f: Callable) -> Callable:
    f = click.option("--token-file", type=click.Path(dir_okay=False), help="File with the runner's token (else CB_TOKEN).")(f)
    f = click.option("--runner", "runner_url", metavar="URL",
                     help="The runner's admin API (else CB_RUNNER_URL, else cb.yaml runner.url).")(f)
    return f


def load_valid_project() -> Any:
    """The whole project, or exit 1 printing every diagnostic: nothing is planned from invalid config.

    Always the whole project, also for a targeted plan: references across files must resolve."""
    from cb.config.diagnostics import render_text
    from cb.config.project import load_project

    project, diags = load_project(None)
    if any(d.severity == "error" for d in diags):
        click.echo(render_text(diags, len(project.files), len(project.resources)), err=True)
        raise UserError("the configuration has errors (above); nothing was planned. Fix them and run again")
    for d in sorted(diags):  # warnings: e.g. a declared rule the runtime does not enforce yet (CB801)
        click.echo(d.render(), err=True)
    return project


def project_to_plan(locked: bool, paths: tuple[str, ...]) -> Any:
    """The valid project, checked against cb.lock when ``locked``, narrowed to ``paths`` if given."""
    from cb.plan.planner import LockMismatch, check_lock

    project = load_valid_project()
    try:
        check_lock(project, locked)
    except LockMismatch as exc:
        raise UserError(str(exc)) from None
    return target(project, paths) if paths else project


def project_runner_url() -> str | None:
    from cb.config.project import _load_settings, find_root  # noqa: PLC2701 - reads cb.yaml only

    root = find_root(Path.cwd())
    return _load_settings(root, Path.cwd(), []).runner.url if root else None


@contextlib.contextmanager
def connect(runner_url: str | None, token_file: str | None, project: Any = None) -> Iterator[RunnerClient]:
    url = resolve_url(runner_url, project.settings.runner.url if project is not None else project_runner_url())
    client = RunnerClient(url, resolve_token(token_file))
    try:
        yield client
    except RunnerError as exc:
        raise UserError(str(exc)) from None
    finally:
        client.close()


def target(project: Any, paths: tuple[str, ...]) -> Any:
    """The project narrowed to the resources defined in ``paths`` (files or folders)."""
    import dataclasses

    wanted = [Path(p).resolve() for p in paths]
    missing = [p for p, w in zip(paths, wanted) if not w.exists()]
    if missing:
        raise UserError(f"no such file or folder: {', '.join(missing)}")

    def inside(file: str) -> bool:
        f = Path(file).resolve()
        return any(f == w or w in f.parents for w in wanted)

    chosen = {a: r for a, r in project.resources.items() if inside(r.file)}
    if not chosen:
        raise UserError(f"no resources of the project are defined in {', '.join(paths)}")
    return dataclasses.replace(project, resources=chosen)
