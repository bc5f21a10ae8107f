"""`cb call AGENT --to-file contacts.csv`: a contacts file queued as one batch (POST /v1/calls/batch).

The file is checked here first (``cb.cli.contacts``), then by the runner; either way a bad row is
named by file:line with its fix and nothing is queued. The runner's dialler places each call when
the agent's compliance policies allow it; `cb calls list --queued` shows what waits and why.
"""

from __future__ import annotations

import click

from .errors import UserError


def queue_file(url: str, token: str | None, agent: str, path: str, *, to: str | None, local: bool,
               wait: bool) -> None:
    from cb.client import Client, RunnerError

    from . import contacts

    if to or local or wait:
        raise UserError("--to-file queues calls for the dialler: it does not go with --to, --local or --wait; "
                        "follow the queue with `cb calls list --queued`")
    name = agent.removeprefix("agent.")
    try:
        rows = contacts.read(path, name)
    except contacts.ContactsError as exc:
        raise UserError(f"{exc}\nnothing was queued") from None
    with Client(url, token) as client:
        try:
            result = client.calls.create_many([r.body for r in rows])
        except RunnerError as exc:
            problems = (exc.body or {}).get("problems") or []
            if not problems:
                raise UserError(f"the runner refused the batch: {exc}\nnothing was queued") from None
            lines = [f"{path}:{rows[p['index']].line}: {p['error']}" for p in problems if p.get("index") is not None
                     and 0 <= p["index"] < len(rows)]
            raise UserError("\n".join(lines or [str(exc)]) + "\nnothing was queued") from None
    click.echo(f"queued {len(result['queued'])} calls to {name} from {path} (batch {result['batch']}); "
               "`cb calls list --queued` shows what waits and why")
