from __future__ import annotations

from pathlib import Path

import click

from cb.config import schemagen

from .errors import EXIT_USER


@click.command()
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("schemas"),
              show_default=True, help="Folder to write the schemas into.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if any committed schema is stale.")
def schema(out: Path, check: bool) -> None:
    """Write the JSON Schemas (draft 2020-12) generated from cb's models.

    Point your editor at them for completion and squiggles: every YAML file starts with
    `# yaml-language-server: $schema=<path>/schemas/cb.json`.
    """
    if check:
        stale = [name for name, text in schemagen.generate().items()
                 if not (out / name).exists() or (out / name).read_text() != text]
        if stale:
            click.echo(f"stale schemas in {out}/: {', '.join(stale)}\nrun: cb schema", err=True)
            raise SystemExit(EXIT_USER)
        click.echo(f"schemas in {out}/ are up to date")
        return
    changed = schemagen.write(out)
    click.echo(f"wrote {len(changed)} schema file(s) to {out}/" + (f": {', '.join(changed)}" if changed else " (all up to date)"))
