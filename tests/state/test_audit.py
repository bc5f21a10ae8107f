"""What the audit proves against someone with write access to the database: the live pointer is
covered by the chain, the chain is keyed, checkpoints bound a forger who also holds the key, and an
old unkeyed state is verified and keyed, or refused."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat

import pytest
from click.testing import CliRunner

from cb.cli import cli as main
from cb.state import open_store
from cb.state.audit import checkpoint, verify
from cb.state.auditkey import load_or_create
from cb.state.canonical import canonical_json
from cb.state.errors import StateError
from cb.state.store import Change, chain_link, chain_record
from cb.state.types import Cause

KEY = bytes(range(32))


def agent(name: str, greeting: str = "hi", action: str = "create") -> Change:
    content = {"apiVersion": "cb/v1", "kind": "Agent", "metadata": {"name": name}, "spec": {"greeting": greeting}}
    return Change(f"agent.{name}", "Agent", name, action, content)


def db(store) -> sqlite3.Connection:
    return sqlite3.connect(store.dir / "state.db", isolation_level=None)


def rewrite(store, sql: str, key: bytes | None = None) -> None:
    """An attacker's edit: change a row, then recompute every link after it (plain sha256, or with the key)."""
    with db(store) as conn:
        conn.execute(sql)
        cols = ["id", "serial", "address", "kind", "name", "action", "hash", "applied_at", "source", "cause",
                "applied_by", "moved_from", "prev_chain", "chain"]
        lineage = conn.execute("SELECT value FROM cb_meta WHERE key = 'lineage'").fetchone()[0]
        head = hashlib.sha256(lineage.encode()).hexdigest()
        for values in conn.execute(f"SELECT {', '.join(cols)} FROM cb_revisions ORDER BY id").fetchall():
            row = dict(zip(cols, values))
            link = chain_link(head, chain_record(row), key)
            conn.execute("UPDATE cb_revisions SET prev_chain = ?, chain = ? WHERE id = ?", (head, link, row["id"]))
            head = link
        conn.execute("UPDATE cb_meta SET value = ? WHERE key = 'head'", (head,))


def fleet(path, key=KEY):
    store = open_store(path, key=key)
    store.commit([agent("front-desk", "v1")], source="apply", cause=Cause(author="Ann", message="first"))
    store.commit([agent("front-desk", "v2", "update")], source="apply", cause=Cause(author="Ann", message="second"))
    return store


def test_repointing_live_to_an_older_revision_is_named(tmp_path):
    store = fleet(tmp_path)
    assert verify(store).ok
    with db(store) as conn:
        conn.execute("UPDATE cb_live SET revision_id = 1 WHERE address = 'agent.front-desk'")
    result = verify(store)
    assert not result.ok and result.address == "agent.front-desk"
    assert "cb_live" in result.reason and "r1" in result.reason and "chain says r2" in result.reason
    with db(store) as conn:  # and a live address the chain never made live
        conn.execute("UPDATE cb_live SET revision_id = 2 WHERE address = 'agent.front-desk'")
        conn.execute("INSERT INTO cb_live (address, revision_id) VALUES ('agent.ghost', 1)")
    result = verify(store)
    assert not result.ok and result.address == "agent.ghost", result


def test_rewriting_author_and_message_with_a_recomputed_sha256_chain_fails(tmp_path):
    store = fleet(tmp_path)
    forged = canonical_json(Cause(author="Mallory", message="nothing to see").to_dict())
    rewrite(store, f"UPDATE cb_revisions SET cause = '{forged}', applied_by = 'mallory' WHERE id = 1")
    result = verify(store)
    assert not result.ok and result.broken_at == 1 and result.keyed
    assert "without the audit key" in result.reason


def test_an_unkeyed_chain_is_only_as_good_as_sha256(tmp_path):
    """Why the key: without it, the same rewrite passes (what the old audit accepted)."""
    store = fleet(tmp_path, key=None)
    rewrite(store, "UPDATE cb_revisions SET applied_by = 'mallory' WHERE id = 1")
    result = verify(store)
    assert result.ok and not result.keyed


def test_a_checkpoint_bounds_a_forger_who_holds_the_key(tmp_path):
    store = fleet(tmp_path)
    cp = checkpoint(store)
    assert cp["revision"] == 2 and cp["serial"] == 2 and cp["key_id"] == verify(store).key_id
    store.commit([agent("after", "v1")], source="apply")
    assert verify(store, against=cp).ok  # history grew after the checkpoint: fine

    rewrite(store, "UPDATE cb_revisions SET applied_by = 'mallory' WHERE id = 1", key=KEY)
    assert verify(store).ok  # with both the database and the key, a rewrite is self-consistent ...
    result = verify(store, against=cp)  # ... but not the history the checkpoint recorded
    assert not result.ok and "rewritten" in result.reason

    edited = dict(cp, serial=3)
    assert "signature" in verify(store, against=edited).reason


def test_an_unkeyed_state_is_verified_then_keyed(tmp_path, caplog):
    fleet(tmp_path, key=None).close()
    store = open_store(tmp_path, key=KEY)
    result = verify(store)
    assert result.ok and result.keyed and result.checked == 2
    assert "re-chained under audit key" in caplog.text
    store.close()


def test_a_broken_unkeyed_state_is_refused_not_laundered(tmp_path):
    old = fleet(tmp_path, key=None)
    with db(old) as conn:
        conn.execute("UPDATE cb_revisions SET applied_by = 'mallory' WHERE id = 1")
    old.close()
    with pytest.raises(StateError, match=r"fails its audit at revision r1 .*cannot be keyed"):
        open_store(tmp_path, key=KEY)


def test_another_key_cannot_extend_the_chain(tmp_path):
    fleet(tmp_path).close()
    with pytest.raises(StateError, match="same key file"):
        open_store(tmp_path, key=bytes(32))
    store = open_store(tmp_path)  # read without a key: the audit says which key it needs
    assert "keyed with audit key" in verify(store).reason
    with pytest.raises(StateError, match="keyed"):
        store.commit([agent("x")], source="apply")


def test_the_key_file_is_created_once_with_mode_0600(tmp_path):
    path = tmp_path / "audit.key"
    key = load_or_create(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and len(key) == 32
    assert load_or_create(path) == key


def test_cli_checkpoint_and_verify_against_it(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    load_or_create(state / "audit.key")
    from cb.state.auditkey import read

    fleet(state, key=read(state / "audit.key")).close()
    cli = CliRunner()
    out = cli.invoke(main, ["audit", "checkpoint", "--state", str(state)])
    assert out.exit_code == 0, out.output
    cp = json.loads(out.output)
    (tmp_path / "cp.json").write_text(out.output)
    ok = cli.invoke(main, ["audit", "verify", "--state", str(state), "--against", str(tmp_path / "cp.json")])
    assert ok.exit_code == 0 and "keyed chain intact" in ok.output and "unchanged since" in ok.output, ok.output

    rewrite(open_store(state), "UPDATE cb_revisions SET applied_by = 'mallory' WHERE id = 1",
            key=read(state / "audit.key"))
    bad = cli.invoke(main, ["audit", "verify", "--state", str(state), "--against", json.dumps(cp)])
    assert bad.exit_code == 1 and "rewritten" in bad.output, bad.output
