from __future__ import annotations

from pathlib import Path

import click

from cb.config.diagnostics import render_json, render_text
from cb.config.project import find_root, load_project, validate_paths
from cb.config.scenarios import load_scenarios

from .errors import EXIT_OK, EXIT_USER


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json prints the same diagnostics as objects, for CI and editors.")
def validate(paths: tuple[str, ...], fmt: str) -> None:
    """Check configuration and report every problem at once.

    PATHS are files or folders of YAML (default: the `paths` of cb.yaml, else agents/). Each file
    belongs to the project of its nearest cb.yaml. Checks YAML syntax, fields and types against
    the schemas, references between resources, templates, phone numbers and inline secrets, and
    the project's scenarios (cb.yaml `scenarios:`) against the agents they test.
    Fields the runtime does not act on yet are warnings (on stderr). Exit 0 when valid (warnings
    or not), 1 when not.

    \b
    Examples:
      cb validate
      cb validate agents examples
      cb validate --format json agents/front-desk.yaml
    """
    config, scenario_paths = _split(list(paths))
    projects, diags = validate_paths(config) if config or not scenario_paths else ([], [])
    diags = diags + _scenario_diagnostics(projects, scenario_paths, bool(paths))
    files = sum(len(p.files) for p in projects)
    resources = sum(len(p.resources) for p in projects)
    if fmt == "json":
        click.echo(render_json(diags, files, resources))
    else:  # warnings (CB801: declared but not enforced yet) go to stderr; the verdict stays on stdout
        for d in sorted(d for d in diags if d.severity == "warning"):
            click.echo(d.render(), err=True)
        click.echo(render_text([d for d in diags if d.severity != "warning"], files, resources))
    raise SystemExit(EXIT_USER if any(d.severity == "error" for d in diags) else EXIT_OK)


def _scenario_folders(path: Path) -> tuple[Path, list[Path]] | None:
    root = find_root(path if path.is_dir() else path.parent)
    if root is None:
        return None
    project, _ = load_project(None, root)
    return root, [(root / f).resolve() for f in project.settings.scenarios]


def _split(paths: list[str]) -> tuple[list[str], list[str]]:
    """Config paths and scenario paths (those inside a project's scenario folders)."""
    config, scenarios = [], []
    for p in paths:
        here = Path(p).resolve()
        found = _scenario_folders(here) if here.exists() else None
        inside = found is not None and any(here == f or f in here.parents for f in found[1])
        (scenarios if inside else config).append(p)
    return config, scenarios


def _scenario_diagnostics(projects: list, scenario_paths: list[str], explicit: bool) -> list:
    """Scenarios of each validated project, and the named ones.

    With config paths given (``cb validate agents examples``) each of their projects' scenarios is
    checked against the whole project (a scenario may test an agent in a file not named), unless
    scenario paths of that project were named: then just those.
    """
    diags: list = []
    by_root: dict[Path, list[str]] = {}
    for p in scenario_paths:
        root, _ = _scenario_folders(Path(p).resolve())  # type: ignore[misc]
        by_root.setdefault(root, []).append(p)
    for project in projects:
        if not explicit:
            diags += load_scenarios(project)[1]
        elif (Path(project.root) / "cb.yaml").is_file() \
                and Path(project.root).resolve() not in {Path(r).resolve() for r in by_root}:
            whole, _ = load_project(None, Path(project.root))  # its own problems are reported for the files named
            diags += load_scenarios(whole)[1]
    for root, named in by_root.items():
        project, _ = load_project(None, root)  # its own problems are reported when it is validated
        diags += load_scenarios(project, named)[1]
    return diags
