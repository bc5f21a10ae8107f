"""The history page of one address (/ui/history/ADDRESS): every revision, oldest first, with why it
was applied (the git commit, author and message of its cause), by whom and when, and, opened from
a call's page, the revision that answered that call marked.

A call pins the agent's content hash (``agent_revision``) at the state serial it was admitted at;
the revision that answered is the one live at that serial, which must carry that hash.
"""

from __future__ import annotations

from typing import Any


def rows(revisions: list[dict[str, Any]], serial: int | None = None, hash_: str | None = None) -> list[dict[str, Any]]:
    """The revisions (``Revision.to_dict()``), each with ``answered`` true for the one live at ``serial``
    whose content hash is ``hash_`` (a call's pin); none is marked when they do not agree."""
    live = [r for r in revisions if serial is not None and r["serial"] <= serial]
    answered = live[-1]["id"] if live and hash_ and live[-1].get("hash") == hash_ else None
    return [{**r, "answered": r["id"] == answered, "cause": r.get("cause") or {}} for r in revisions]
