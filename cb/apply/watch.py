"""`cb runner --watch DIR`: the operator's mode. Every edit under DIR goes through the same
load → validate → plan → apply code as `cb apply`, recorded with source ``watch`` and the OS user.

An invalid edit is refused: its diagnostics are logged and kept (``GET /v1/watch``, for
`cb status`), and the last good revision keeps serving. The state dir is never inside the watch
(SQLite's own writes would wake it up), and a held lock (a CI apply) is waited out: the next edit
or the next retry applies.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cb.state.errors import StateError
from cb.state.types import Cause

log = logging.getLogger("cb.watch")

YAML = (".yaml", ".yml")
RETRY_S = 2.0


@dataclass
class WatchStatus:
    directory: str
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    serial: int | None = None
    applied: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"directory": self.directory, "ok": self.ok, "problems": self.problems, "serial": self.serial,
                "applied": self.applied}


class Watcher:
    def __init__(self, engine: Any, directory: Path, state_dir: Path | None = None):
        self.engine = engine
        self.directory = Path(directory).resolve()
        self.state_dir = Path(state_dir).resolve() if state_dir else None
        self.status = WatchStatus(str(self.directory))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def load(self) -> tuple[Any, list[Any]]:
        from cb.config.project import find_root, load_project

        if find_root(self.directory):
            return load_project(cwd=self.directory)
        return load_project([str(self.directory)], cwd=self.directory)

    def sync(self) -> bool:
        """Load, validate and apply the directory once. False when it must be retried (lock held)."""
        from cb.cause import applied_by, change_cause

        project, diags = self.load()
        errors = [d for d in diags if d.severity == "error"]
        if errors:
            self.status.ok = False
            # One line each, rendered (and escaped) as `cb validate` prints them: a name from the
            # YAML cannot forge a log line.
            self.status.problems = [d.render().replace("\n  hint: ", " (hint: ") + (")" if d.hint else "")
                                    for d in errors]
            for line in self.status.problems:
                log.warning("watch: refused: %s", line)
            log.warning("watch: %d problem(s); the last good revision keeps serving", len(errors))
            return True
        cause = Cause.from_dict({**change_cause(self.directory), "message": "edited on the runner host (watch)"})
        try:
            result = self.engine.apply_project(project, source="watch", cause=cause, applied_by=applied_by())
        except StateError as exc:
            log.warning("watch: not applied yet: %s", exc)
            return False
        self.status.ok, self.status.problems = result.ok, [] if result.ok else [str(result.failed)]
        self.status.serial, self.status.applied = result.serial, result.applied
        if result.applied:
            log.info("watch: applied %s (serial %d)", ", ".join(result.applied), result.serial)
        return True

    def _relevant(self, changes: set) -> bool:
        for _, path in changes:
            p = Path(path)
            if self.state_dir and (p == self.state_dir or self.state_dir in p.parents):
                continue
            if p.suffix in YAML:
                return True
        return False

    def run(self) -> None:
        import watchfiles

        pending = not self.sync()
        for changes in watchfiles.watch(self.directory, debounce=150, step=20, stop_event=self._stop,
                                        yield_on_timeout=True, rust_timeout=int(RETRY_S * 1000), raise_interrupt=False):
            if self._stop.is_set():
                return
            if (changes and self._relevant(changes)) or pending:
                try:
                    pending = not self.sync()
                except Exception:  # noqa: BLE001 - the watch must outlive one bad edit
                    log.exception("watch: sync failed")

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="cb-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
