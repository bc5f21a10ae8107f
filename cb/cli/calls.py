"""`cb calls list|show|export`: what happened on each call, asked of the runner like every other
command (``--runner``, else CB_RUNNER_URL, else cb.yaml's runner.url); ``--state DIR`` reads a
state folder directly instead (a stopped runner's, or a backup)."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from .errors import UserError

STATE_HELP = "Read this state folder (state.db) directly instead of asking the runner."
RUNNER_HELP = "The runner's admin API (else CB_RUNNER_URL, else cb.yaml runner.url; token: CB_TOKEN)."


def where(f):
    """--state (read the runner's database here) or --runner (ask the runner over HTTP)."""
    f = click.option("--token-file", type=click.Path(dir_okay=False), help="File with the runner's token.")(f)
    f = click.option("--runner", "runner_url", metavar="URL", help=RUNNER_HELP)(f)
    return click.option("--state", "state_dir", type=click.Path(file_okay=False), help=STATE_HELP)(f)


def _runner(runner_url: str | None, state_dir: str | None) -> str | None:
    """The runner to ask, or None to read ``--state`` directly."""
    if state_dir and not runner_url:
        return None
    from cb.client import resolve_url

    from .common import project_runner_url

    return resolve_url(runner_url, project_runner_url())


def _state(state_dir: str | None) -> Path:
    from cb.config.project import find_root

    return Path(state_dir) if state_dir else (find_root(Path.cwd()) or Path.cwd()) / ".cb"


def _view(fn, state_dir: str | None, *args, **kwargs):
    from cb.runner.postcall import view as callview

    folder = _state(state_dir)
    try:
        return fn(callview, folder, *args, **kwargs)
    except callview.NoStateDatabase:
        raise UserError(f"no state database at {folder / 'state.db'}\n"
                        "fix: pass --state with the runner's state folder, or run from the project") from None


def _remote(runner_url: str, token_file: str | None, path: str, **params) -> dict:
    from .common import connect

    with connect(runner_url, token_file) as client:
        try:
            return client._call("GET", path, params=params or None)
        except Exception as exc:  # RunnerError: map a missing call to the same message as local
            if getattr(exc, "status", 0) == 404:
                return {}
            raise


def _call(state_dir: str | None, call_id: str, runner_url: str | None = None, token_file: str | None = None) -> dict:
    runner_url = _runner(runner_url, state_dir)
    if runner_url:
        call = _remote(runner_url, token_file, f"/v1/calls/{call_id}/export") or None
    else:
        call = _view(lambda cv, folder: cv.show_call(folder, call_id), state_dir)
    if call is None:
        raise UserError(f"no call {call_id!r} in this runner's records\nfix: `cb calls list` shows the ids")
    return call


def _row(record: dict) -> dict:
    """A listing row from the runner's /v1/calls record (which has no returns column)."""
    from cb.runner.postcall.view import duration

    return {"id": record["id"], "created_at": record["created_at"], "agent": record["agent"],
            "revision": record.get("agent_revision") or record.get("revision") or "", "status": record["status"], "end_reason": record.get("end_reason"),
            "duration_sec": duration(record.get("started_at"), record.get("ended_at")), "returns": record.get("returns"),
            "cost_usd": record.get("cost_usd"), "cost_per_min_usd": record.get("cost_per_min_usd")}


@click.group()
def calls() -> None:
    """Calls the runner handled: transcript, tool calls, returns, latency, revision."""


@calls.command("list")
@where
@click.option("--agent", help="Only calls of this agent (name or address).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--queued", is_flag=True, help="The dial queue instead: calls waiting to be dialled, and why.")
def list_(state_dir: str | None, runner_url: str | None, token_file: str | None, agent: str | None, limit: int,
          fmt: str, queued: bool) -> None:
    """List calls, newest first (--queued: the calls that wait in the dial queue, soonest first)."""
    runner_url = _runner(runner_url, state_dir)
    if queued:
        from .dial_queue import show_queue

        show_queue(runner_url, token_file, agent, fmt)
        return
    if runner_url:
        address = agent if not agent or agent.startswith("agent.") else "agent." + agent
        params = {"limit": limit, **({"agent": address} if address else {})}
        # the UI's listing has returns and cost; a runner without it, the records alone
        listing = _remote(runner_url, token_file, "/v1/call-list", **params) or \
            _remote(runner_url, token_file, "/v1/calls", **params)
        rows = [_row(r) for r in listing.get("calls", [])]
    else:
        rows = _view(lambda cv, folder: cv.list_calls(folder, limit=limit, agent=agent), state_dir)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no calls yet")
        return
    click.echo(f"{'ID':<26} {'CREATED':<20} {'AGENT':<22} {'REVISION':<13} {'STATUS':<11} {'SECS':>6}  {'RETURNS':<7} {'COST $':>8} {'$/MIN':>7} END")
    for r in rows:
        secs = "-" if r["duration_sec"] is None else f"{r['duration_sec']:.0f}"
        click.echo(f"{r['id']:<26} {r['created_at'][:19]:<20} {r['agent']:<22} {r['revision'][:12]:<13} "
                   f"{r['status']:<11} {secs:>6}  {r['returns'] or '-':<7} {_usd(r.get('cost_usd')):>8} "
                   f"{_usd(r.get('cost_per_min_usd')):>7} {r['end_reason'] or ''}")


def _usd(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


@calls.command()
@click.argument("call_id")
@where
@click.option("--open", "open_page", is_flag=True,
              help="Print a signed link (good for 5 minutes) to the call's page on the runner, and open it.")
def show(call_id: str, state_dir: str | None, runner_url: str | None, token_file: str | None,
         open_page: bool) -> None:
    """Show one call: transcript, tool calls, returns, per-turn latency, revision, webhooks."""
    from cb.runner.postcall.view_text import render

    if open_page:
        _open_page(call_id, runner_url or _runner(None, None), token_file)
        return
    click.echo(render(_call(state_dir, call_id, runner_url, token_file)))


def _compliance_export(runner_url: str | None, token_file: str | None, since: str | None, until: str | None,
                       fmt: str) -> str:
    """The runner's decisions (``GET /v1/compliance/decisions``) as CSV (a header row) or JSON."""
    import csv
    import io

    from cb.client import RunnerError

    from .common import connect

    params = {k: v for k, v in (("since", since), ("until", until)) if v}
    with connect(runner_url, token_file) as client:
        try:
            body = client._call("GET", "/v1/compliance/decisions", params=params or None)
        except RunnerError as exc:
            raise UserError(f"cannot export the compliance decisions: {exc}") from None
    if fmt == "json":
        return json.dumps(body["decisions"], indent=2) + "\n"
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=body["fields"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(body["decisions"])
    return buf.getvalue()


def _open_page(call_id: str, runner_url: str | None, token_file: str | None) -> None:
    """The runner signs the link (its own key): the token never goes into a browser."""
    import webbrowser

    from .common import connect

    if not runner_url:
        raise UserError("--open needs the runner: pass --runner URL or set CB_RUNNER_URL")
    with connect(runner_url, token_file) as client:
        try:
            link = client._call("POST", "/v1/ui/links", json={"path": f"/ui/calls/{call_id}"})
        except Exception as exc:  # RunnerError
            raise UserError(f"cannot get a link to {call_id}'s page: {exc}") from None
    click.echo(link["url"])
    click.echo(f"(signed, good for {link['expires_in_sec'] // 60} minutes)", err=True)
    if sys.stdout.isatty():  # a person at a terminal; never from a script or a test
        with contextlib.suppress(Exception):
            webbrowser.open(link["url"])


@calls.command()
@click.argument("call_id", required=False)
@where
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="Write to a file instead of stdout.")
@click.option("--compliance", is_flag=True, help="Every compliance decision in a date range, not one call.")
@click.option("--since", metavar="DATE", help="--compliance: from this date or ISO time (UTC).")
@click.option("--until", metavar="DATE", help="--compliance: through this date (or before this ISO time).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True,
              help="--compliance: the file's format.")
def export(call_id: str | None, state_dir: str | None, runner_url: str | None, token_file: str | None,
           out: str | None, compliance: bool, since: str | None, until: str | None, fmt: str) -> None:
    """Everything about one call as JSON (the record, transcript, tools, returns, latency, webhooks),
    or with --compliance every compliance decision in a date range, for an audit.

    \b
    Examples:
      cb calls export CALL_ID --out call.json
      cb calls export --compliance --since 2026-01-01 --until 2026-01-31 --out january.csv
    """
    if compliance:
        if call_id:
            raise UserError("--compliance exports every call's decisions: drop CALL_ID, or drop --compliance")
        text = _compliance_export(runner_url, token_file, since, until, fmt)
    elif not call_id:
        raise UserError("name a call (cb calls export CALL_ID), or export the decisions with --compliance")
    else:
        text = json.dumps(_call(state_dir, call_id, runner_url, token_file), indent=2, default=str) + "\n"
    if out:
        Path(out).write_text(text)
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text, nl=False)


@calls.command()
@click.argument("call_id")
@click.option("--runner", "runner_url", metavar="URL", help="The runner (else CB_RUNNER_URL, else cb.yaml runner.url).")
@click.option("--token-file", type=click.Path(dir_okay=False), help="File with the runner's token.")
def hangup(call_id: str, runner_url: str | None, token_file: str | None) -> None:
    """End a call in any state: cancel it while it rings, hang up once answered (DELETE /v1/calls/ID)."""
    from cb.client import RunnerError

    from .common import connect

    with connect(runner_url, token_file) as client:
        try:
            record = client.hangup_call(call_id)
        except RunnerError as exc:
            raise UserError(f"cannot hang up {call_id}: {exc}") from None
    click.echo(f"call {call_id}: {record['status']} ({record.get('end_reason') or 'ending'})")
