"""Errors the store raises; the admin API maps each to one HTTP status and the CLI to exit 1."""

from __future__ import annotations

from .types import Lock


class StateError(Exception):
    """A request the state cannot honour; the message says why and what to do."""

    status = 400


class StaleState(StateError):
    """The caller planned against a lineage/serial that is no longer current."""

    status = 409


class LockHeld(StateError):
    status = 423

    def __init__(self, lock: Lock):
        self.lock = lock
        super().__init__(
            f"state is locked by {lock.holder} for {lock.operation!r} since {lock.created_at} (lock ID {lock.id}); "
            f"wait for it to finish, or if that process is gone run: cb force-unlock {lock.id}")


class NotFound(StateError):
    status = 404
