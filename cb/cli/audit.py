"""cb audit verify / cb audit checkpoint: prove that history was not rewritten.

Through the runner by default; ``--state DIR`` reads a state folder (a backup) directly, keyed
with ``--audit-key FILE`` (default: ``DIR/audit.key`` when it is there).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Iterator

import click

from .common import connect, runner_options
from .errors import UserError

state_option = click.option("--state", "state_dir", type=click.Path(file_okay=False),
                            help="Read a state folder (state.db) directly, e.g. a backup, without a runner.")
key_option = click.option("--audit-key", "audit_key", type=click.Path(dir_okay=False),
                          help="With --state: the audit key file (default: audit.key in the state folder).")


@click.group()
def audit() -> None:
    """Prove that history was not rewritten."""


@contextlib.contextmanager
def _offline(state_dir: str, audit_key: str | None) -> Iterator[Any]:
    from cb.state import open_store
    from cb.state.auditkey import KEY_FILE, AuditKeyError, read

    if not (Path(state_dir) / "state.db").is_file():
        raise UserError(f"{state_dir} holds no state.db; pass the runner's state folder (default .cb/)")
    key_file = Path(audit_key) if audit_key else Path(state_dir) / KEY_FILE
    try:
        key = read(key_file) if audit_key or key_file.is_file() else None
    except AuditKeyError as exc:
        raise UserError(str(exc)) from None
    store = open_store(state_dir, key=None)
    store.key = key  # read only: never migrate or write a backup being audited
    try:
        yield store
    finally:
        store.close()


def _checkpoint_arg(text: str) -> dict[str, Any]:
    """A checkpoint given inline (its JSON) or as a file holding the JSON that `cb audit checkpoint` printed."""
    raw = text if text.lstrip().startswith("{") else None
    if raw is None:
        try:
            raw = Path(text).read_text()
        except OSError as exc:
            raise UserError(f"cannot read the checkpoint {text}: {exc.strerror}") from None
    try:
        value = json.loads(raw.strip().splitlines()[-1] if raw.strip() else raw)
    except (json.JSONDecodeError, IndexError):
        raise UserError(f"the checkpoint {text[:60]!r} is not the JSON line `cb audit checkpoint` prints") from None
    if not isinstance(value, dict):
        raise UserError("the checkpoint is not a JSON object; pass what `cb audit checkpoint` printed")
    return value


@audit.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--against", "against", metavar="CHECKPOINT",
              help="Also check that history up to this checkpoint (a file, or the JSON itself) is unchanged.")
@state_option
@key_option
@runner_options
def verify(fmt: str, against: str | None, state_dir: str | None, audit_key: str | None, runner_url: str | None,
           token_file: str | None) -> None:
    """Recompute the keyed chain, every content hash and what is live; exit 1 naming the first broken link."""
    checkpoint = _checkpoint_arg(against) if against else None
    if state_dir:
        from cb.state.audit import verify as verify_store

        with _offline(state_dir, audit_key) as store:
            result = verify_store(store, against=checkpoint).to_dict()
    else:
        with connect(runner_url, token_file) as client:
            result = client.audit(checkpoint)
    if fmt == "json":
        click.echo(json.dumps(result, indent=2, sort_keys=True))
    if not result["ok"]:
        where = f"revision r{result['broken_at']} ({result['address']})" if result.get("broken_at") else "the chain head"
        if result.get("address") and not result.get("broken_at"):
            where = result["address"]
        raise UserError(f"audit FAILED at {where}: {result['reason']}. {result['checked']} revisions checked; "
                        "history was changed outside cb")
    if fmt == "text":
        how = (f"keyed chain intact (audit key {result['key_id']})" if result.get("keyed")
               else "plain sha256 chain intact (NOT keyed: anyone who can write the database could recompute it)")
        click.echo(f"audit OK: {result['checked']} revisions, {how}, live pointers match, lineage "
                   f"{result['lineage']}, serial {result['serial']}")
        if result.get("against"):
            cp = result["against"]
            click.echo(f"history up to r{cp['revision']} (serial {cp['serial']}) is unchanged since the checkpoint "
                       f"of {cp['at']}")


@audit.command()
@state_option
@key_option
@runner_options
def checkpoint(state_dir: str | None, audit_key: str | None, runner_url: str | None, token_file: str | None) -> None:
    """Print a signed checkpoint of history (one JSON line): keep it in CI logs or git, and check
    later with `cb audit verify --against` that history up to it was not rewritten."""
    if state_dir:
        from cb.state.audit import checkpoint as make

        with _offline(state_dir, audit_key) as store:
            value = make(store)
    else:
        with connect(runner_url, token_file) as client:
            value = client.checkpoint()
    click.echo(json.dumps(value, sort_keys=True, separators=(",", ":")))
