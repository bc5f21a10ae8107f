from __future__ import annotations

import click

from cb.config.diagnostics import render_json, render_text
from cb.config.project import validate_paths

from .errors import EXIT_OK, EXIT_USER


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json prints the same diagnostics as objects, for CI and editors.")
def validate(paths: tuple[str, ...], fmt: str) -> None:
    """Check configuration and report every problem at once.

    PATHS are files or folders of YAML (default: the `paths` of cb.yaml, else agents/). Each file
    belongs to the project of its nearest cb.yaml. Checks YAML syntax, fields and types against
    the schemas, references between resources, templates, phone numbers and inline secrets.
    Exit 0 when valid, 1 when not.

    \b
    Examples:
      cb validate
      cb validate agents examples
      cb validate --format json agents/front-desk.yaml
    """
    projects, diags = validate_paths(list(paths))
    files = sum(len(p.files) for p in projects)
    resources = sum(len(p.resources) for p in projects)
    render = render_json if fmt == "json" else render_text
    click.echo(render(diags, files, resources))
    raise SystemExit(EXIT_USER if any(d.severity == "error" for d in diags) else EXIT_OK)
