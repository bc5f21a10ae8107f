"""Exit codes and the last line of defence.

0: success. 1: a user error (bad config, stale plan, lock held): one clear message, no
traceback. 2: changes present (plan --detailed-exitcode) or a usage error (click).
3: a bug in cb: the traceback goes to a log file with versions, and the message says where.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import traceback

import click

EXIT_OK, EXIT_USER, EXIT_CHANGES, EXIT_BUG = 0, 1, 2, 3


class UserError(click.ClickException):
    """A problem the user can fix; printed as one message, exit 1."""

    exit_code = EXIT_USER


def run_guarded(command: click.Command) -> None:
    try:
        command.main(standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception:  # noqa: BLE001 - this is the bug handler
        from cb import __version__

        log = os.path.join(tempfile.gettempdir(), f"cb-crash-{os.getpid()}.log")
        with open(log, "w") as fh:
            fh.write(f"cb {__version__}\npython {sys.version}\nplatform {platform.platform()}\n")
            fh.write(f"argv {sys.argv}\n\n")
            traceback.print_exc(file=fh)
        click.echo(f"cb: internal error: {sys.exc_info()[1]!r}\n"
                   f"This is a bug in cb, not in your configuration. Details: {log}", err=True)
        sys.exit(EXIT_BUG)
