from __future__ import annotations

from pathlib import Path

import click

from .errors import UserError


@click.command()
@click.argument("agent")
@click.option("--to", "to", metavar="NUMBER", help="Place an outbound call to this E.164 number (through the runner).")
@click.option("--to-file", "to_file", type=click.Path(dir_okay=False), metavar="CSV",
              help="Queue one call per row: number, context (JSON) or context.KEY columns, tz, consent "
                   "(see docs/compliance.md); nothing is queued if any row is bad.")
@click.option("--from", "from_", metavar="NUMBER", help="Call from this declared outbound Number (default: the agent's own).")
@click.option("--context", "context", metavar="JSON|@FILE", help="The agent's context variables, as JSON or @file.json.")
@click.option("--wait", is_flag=True, help="Follow the call's states and print its record when it ends.")
@click.option("--local", "local", is_flag=True,
              help="The simulated phone on this machine: it calls the agent, or with --to answers as the callee.")
@click.option("--say", multiple=True, metavar="TEXT", help="A line the caller (or callee) says (repeatable, in order).")
@click.option("--scenario", type=click.Path(exists=True, dir_okay=False),
              help="YAML: lines: [TEXT | {say: TEXT, barge_in_after_ms: N}], context: {...}; with --to also "
                   "machine: {greeting: TEXT, beep_after_ms: N} for an answering machine.")
@click.option("--runner", "runner_url", metavar="URL", help="The runner (else CB_RUNNER_URL, else cb.yaml runner.url).")
@click.option("--state", "state_dir", type=click.Path(file_okay=False),
              help="The runner's state folder, for its local webhook token. Default: .cb/ in the project root.")
def call(agent: str, to: str | None, to_file: str | None, from_: str | None, context: str | None, wait: bool, local: bool,
         say: tuple[str, ...], scenario: str | None, runner_url: str | None, state_dir: str | None) -> None:
    """Call AGENT's callee (--to), or talk to AGENT as a simulated caller (--local).

    With --to the runner places an outbound call (POST /v1/calls) and this prints its id; --wait
    follows its states (queued, initiated, ringing, in-progress, completed ...) and prints the record.
    With --local too, the simulated callee answers: a person saying --say lines, or the scenario's
    answering machine (greeting, then a beep), so the whole outbound path runs with no keys.

    Without --to, a simulated caller signs the voice webhook, follows the TwiML onto the Media
    Streams WebSocket, speaks each line with Piper in 20 ms frames, and prints what it hears
    (Whisper); then the runner's call record: transcript, revision, turn latency.

    \b
    Examples:
      cb call front-desk --to +14155550199 --context '{"customer": {"first_name": "Maria"}}' --wait
      cb call front-desk --to +14155550199 --local --scenario machine.yaml --wait
      cb call front-desk --local --say "Hi, I'd like to book a cleaning." --say "Thanks, bye."
    """
    from cb.cli.common import project_runner_url
    from cb.client import resolve_token, resolve_url

    url = resolve_url(runner_url, project_runner_url())
    if to_file is not None:
        from .call_batch import queue_file

        queue_file(url, resolve_token(), agent, to_file, to=to, local=local, wait=wait)
        return
    if to is not None:
        _outbound(url, resolve_token(), agent, to, from_, context, wait, local, say, scenario)
        return
    if not local:
        raise click.UsageError("say who calls: --to NUMBER places an outbound call, --local talks to the "
                               "agent as a simulated caller")
    if context or from_ or wait:
        raise UserError("--context, --from and --wait go with --to (an outbound call); a local caller's "
                        "context goes in --scenario")
    from cb.config.project import find_root
    from cb.plugins.local import localcall

    state = state_dir or str((find_root(Path.cwd()) or Path.cwd()) / ".cb")
    try:
        plan = localcall.load_scenario(scenario, say)
        result = localcall.place(url, state, agent.removeprefix("agent."), plan,
                                 on_heard=lambda h: click.echo(localcall.render_heard(h)))
        click.echo(localcall.render_record(localcall.fetch_record(url, result.call_id, resolve_token()), result))
    except localcall.LocalCallError as exc:
        raise UserError(str(exc)) from None


def _context(value: str | None) -> dict:
    import json

    if not value:
        return {}
    where = "--context"
    if value.startswith("@"):
        where = value[1:]
        try:
            value = Path(where).read_text()
        except OSError as exc:
            raise UserError(f"--context {value}: cannot read {where}: {exc.strerror}") from None
    try:
        data = json.loads(value)
    except ValueError as exc:
        raise UserError(f"{where}: not JSON ({exc}); give an object such as '{{\"customer\": {{\"first_name\": \"Maria\"}}}}'") from None
    if not isinstance(data, dict):
        raise UserError(f"{where}: context must be a JSON object of the agent's context variables")
    return data


def _outbound(url: str, token: str | None, agent: str, to: str, from_: str | None, context: str | None,
              wait: bool, local: bool, say: tuple[str, ...], scenario: str | None) -> None:
    from cb.client import Client, RunnerError

    body: dict = {}
    given = _context(context)
    if local:
        from cb.plugins.local import localcall

        try:
            callee, scenario_context = localcall.load_callee(scenario, say)
        except localcall.LocalCallError as exc:
            raise UserError(str(exc)) from None
        given = {**scenario_context, **given}
        body = {"dialer": "local", "callee": callee}
    elif say or scenario:
        raise UserError("--say and --scenario script the simulated callee: add --local")
    with Client(url, token) as client:
        try:
            call = client.calls.create(agent=agent.removeprefix("agent."), to=to, from_=from_, context=given, **body)
        except RunnerError as exc:
            raise UserError(f"the runner refused the call: {exc}") from None
        if "queued" in call:  # 202: the agent's compliance policies make it wait (runner/compliance)
            entry = call["queued"]
            click.echo(f"queued {entry['id']}: {entry['agent']} -> {to} waits: {entry.get('reason')}; "
                       "`cb calls list --queued` follows it")
            return
        click.echo(f"call {call.id}: {call.agent} -> {to} from {call.from_number} ({call.status})")
        if not wait:
            return
        try:
            final = client.calls.wait(call.id, on_status=lambda c: click.echo(f"  {c.status}"))
        except RunnerError as exc:
            raise UserError(str(exc)) from None
    click.echo(render_outbound(final))
    if final.status != "completed":
        raise SystemExit(1)


def render_outbound(rec: dict) -> str:
    out = [f"call {rec['id']}  {rec['agent']}@{rec['agent_revision'][:12]}  {rec['direction']} "
           f"{rec['from_number']} -> {rec['to_number']}",
           f"  status {rec['status']}, ended by {rec.get('end_reason')}; answered by {rec.get('answered_by') or '-'}"
           + (f", voicemail {rec['voicemail']}" if rec.get("voicemail") else "")]
    if rec.get("error_code") or rec.get("error"):
        out.append(f"  error {rec.get('error_code') or ''} {rec.get('error') or ''}".rstrip())
    if rec.get("sip_response_code") or rec.get("carrier_duration_sec") is not None:
        out.append(f"  carrier: SIP {rec.get('sip_response_code') or '-'}, {rec.get('carrier_duration_sec')} s")
    out.append("  transcript (as the agent heard and said it):")
    out += [f"    {t['role']:>6}: {t['text']}" for t in rec.get("transcript") or []]
    return "\n".join(out)
