from __future__ import annotations

from pathlib import Path

import click

from .errors import UserError


@click.command()
@click.argument("agent")
@click.option("--local", "local", is_flag=True, required=True,
              help="Simulate the caller on this machine (outbound calls over Twilio come later).")
@click.option("--say", multiple=True, metavar="TEXT", help="A line the caller says (repeatable, in order).")
@click.option("--scenario", type=click.Path(exists=True, dir_okay=False),
              help="YAML: lines: [TEXT | {say: TEXT, barge_in_after_ms: N}], context: {...}.")
@click.option("--runner", "runner_url", metavar="URL", help="The runner (else CB_RUNNER_URL, else cb.yaml runner.url).")
@click.option("--state", "state_dir", type=click.Path(file_okay=False),
              help="The runner's state folder, for its local webhook token. Default: .cb/ in the project root.")
def call(agent: str, local: bool, say: tuple[str, ...], scenario: str | None, runner_url: str | None,
         state_dir: str | None) -> None:
    """Talk to AGENT through a running runner, with a simulated caller.

    The caller signs the voice webhook, follows the TwiML onto the Media Streams WebSocket,
    speaks each line with Piper in 20 ms frames, and prints what it hears (Whisper) as it
    hears it; then the runner's call record: transcript, revision, turn latency.

    \b
    Examples:
      cb call front-desk --local --say "Hi, I'd like to book a cleaning." --say "Thanks, bye."
      cb call front-desk --local --scenario scenarios/booking.yaml
    """
    from cb.cli.common import project_runner_url
    from cb.client import resolve_token, resolve_url
    from cb.config.project import find_root
    from cb.plugins.local import localcall

    url = resolve_url(runner_url, project_runner_url())
    state = state_dir or str((find_root(Path.cwd()) or Path.cwd()) / ".cb")
    try:
        plan = localcall.load_scenario(scenario, say)
        result = localcall.place(url, state, agent.removeprefix("agent."), plan,
                                 on_heard=lambda h: click.echo(localcall.render_heard(h)))
        click.echo(localcall.render_record(localcall.fetch_record(url, result.call_id, resolve_token()), result))
    except localcall.LocalCallError as exc:
        raise UserError(str(exc)) from None
