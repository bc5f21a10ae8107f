"""The runner's state: append-only, content-addressed, hash-chained revisions of every resource.

``open_store(state_dir)`` is the entry point; see ``cb.state.store.StateStore``.
"""

from .canonical import canonical_json, content_hash
from .dialect import sqlite_connection, state_connection
from .store import StateStore, open_store
from .types import Cause, Lock, Revision, Snapshot

__all__ = ["Cause", "Lock", "Revision", "Snapshot", "StateStore", "canonical_json", "content_hash", "open_store",
           "sqlite_connection", "state_connection"]
