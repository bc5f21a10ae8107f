"""Two runner processes sharing one PostgreSQL state: one fleet, one lock, one history."""

from __future__ import annotations

import time

import pytest

from cb.client import RunnerClient

from tests.support.control import make_cb, start_runner
from tests.support.pg import pg_server, pg_url  # noqa: F401  (fixtures)


@pytest.mark.slow
def test_two_runners_share_one_fleet(tmp_path, project, pg_url, monkeypatch):  # noqa: F811
    key = {"CB_AUDIT_KEY_FILE": str(tmp_path / "audit.key")}  # runners sharing a history share its key
    a = start_runner(tmp_path / "a", "--state-db", pg_url, env=key)
    b = start_runner(tmp_path / "b", env={"CB_STATE_DB": pg_url, **key})
    try:
        via_a, via_b = make_cb(a.url, monkeypatch), None
        assert via_a("apply", "--auto-approve").exit_code == 0
        deadline = time.monotonic() + 10
        while RunnerClient(b.url).state()["serial"] != 1:  # b follows a's commit without a restart
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert RunnerClient(a.url).state()["lineage"] == RunnerClient(b.url).state()["lineage"]
        via_b = make_cb(b.url, monkeypatch)
        assert via_b("plan", "--detailed-exitcode").exit_code == 0

        lock = RunnerClient(a.url).lock("pipeline@a", "apply")
        project.write_agent("front-desk", "Changed")
        res = via_b("apply", "--auto-approve")
        assert res.exit_code == 1 and "pipeline@a" in res.output  # one lock for the whole fleet
        RunnerClient(b.url).unlock(lock["id"])
        assert via_b("apply", "--auto-approve").exit_code == 0
        assert [r["serial"] for r in RunnerClient(a.url).history("agent.front-desk")] == [1, 2]
        assert RunnerClient(a.url).audit()["ok"]
    finally:
        a.stop()
        b.stop()


def test_an_unknown_state_database_is_a_clear_error(tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "from cb.cli import main; main()", "runner", "--state",
                          str(tmp_path), "--state-db", "mysql://x"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "unsupported state database 'mysql'" in out.stderr
