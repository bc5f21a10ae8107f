from __future__ import annotations

import click

from .errors import UserError


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on; beyond loopback needs a token.")
@click.option("--port", default=8765, show_default=True, type=int)
@click.option("--state", "state_dir", default=None, type=click.Path(file_okay=False),
              help="State folder (state.db). Default: .cb/ in the project root.")
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False), help="File holding the bearer token (else CB_TOKEN).")
@click.option("--public-url", help="Base URL telephony providers reach this runner at (else CB_PUBLIC_URL, else http://HOST:PORT).")
@click.option("--watch", "watch_dir", type=click.Path(exists=True, file_okay=False),
              help="Operator mode: apply every valid edit under DIR at once (source watch); invalid edits are refused.")
@click.option("--state-db", metavar="URL", help="postgresql://... to share one fleet's state between runners "
              "(else CB_STATE_DB; default: SQLite in the state folder).")
@click.option("--audit-key", "audit_key", type=click.Path(dir_okay=False),
              help="File with the key of the history's chain, created (0600) on first start (else CB_AUDIT_KEY_FILE, "
              "else <token file>.audit-key, else audit.key in the state folder). Keep it off the database's host.")
@click.option("--workers", type=click.IntRange(1, 64), default=None, envvar="CB_WORKERS",
              help="Worker processes sharing the port, one event loop each (else CB_WORKERS; default 1, a single "
              "process; give it the number of cores to use them all). See docs/architecture.md, Workers and admission.")
@click.option("--metrics-public", is_flag=True, help="Serve GET /metrics without the token (e.g. to a scraper on "
              "a private network). Default: beyond loopback /metrics needs the token like /v1.")
def runner(host: str, port: int, state_dir: str | None, token_file: str | None, public_url: str | None,
           watch_dir: str | None, state_db: str | None, audit_key: str | None, metrics_public: bool,
           workers: int | None) -> None:
    """Run the runner: admin API (/v1), GET /healthz, telephony webhooks and calls.

    \b
    Examples:
      cb runner
      cb runner --watch agents
      CB_TOKEN=... cb runner --host 0.0.0.0 --public-url https://calls.example.com
    """
    from pathlib import Path

    from cb.config.project import find_root
    from cb.runner.app import AddressInUse, check_exposure, serve, settings_from_env
    from cb.state.dialect import dialect_for

    root = find_root(Path.cwd()) or Path.cwd()
    settings = settings_from_env(host, port, state_dir or root / ".cb", token_file, public_url, str(root), watch_dir,
                                 state_db, audit_key)
    import dataclasses
    import os

    workers = workers or 1
    if os.environ.get("CB_MAX_CALLS", "").isdigit():  # each worker takes a share of the cap: never a share of 0
        workers = max(1, min(workers, int(os.environ["CB_MAX_CALLS"])))
    settings = dataclasses.replace(settings, metrics_public=metrics_public, workers=workers)
    try:
        check_exposure(settings)
        dialect_for(settings.state_db)
        from cb.runner.admission import Limits
        from cb.runner.calls.pacing import lead_secs

        Limits.from_env(1)  # a CB_ADMIT_* that is not a number stops the start here, named
        lead_secs()  # ... and so does a CB_AUDIO_LEAD_MS
    except ValueError as exc:
        raise UserError(str(exc)) from None
    from cb.state.auditkey import AuditKeyError
    from cb.state.errors import StateError

    try:
        code = serve(settings)
    except (StateError, AuditKeyError, AddressInUse) as exc:
        raise UserError(f"the runner cannot start: {exc}") from None
    if code:
        raise SystemExit(code)
