from __future__ import annotations

import json
import subprocess
import sys

from cb.contracts.webhook_payload import WebhookPayload
from cb.runner.webhooks import Outbox


def cb(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from cb.cli import main; main()", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=60)


def seed(tmp_path):
    box = Outbox.open(tmp_path)
    body = WebhookPayload(call_id="call_9", agent="agent.front-desk", status="completed", duration_sec=3)
    row_id = box.enqueue(call_id="call_9", url="http://127.0.0.1:9/hook", payload=body, max_attempts=1,
                         secret_ref="${env:HOOK_SECRET}")
    [row] = box.claim("w", lease_sec=5)
    box.record_attempt(row, http_status=500, error="HTTP 500: boom", duration_ms=3, ok=False, owner="w",
                       base_delay=1, max_delay=1)
    return box, row_id


def test_list_shows_dead_deliveries_and_replay_queues_one_again(tmp_path):
    box, row_id = seed(tmp_path)
    out = cb("webhooks", "list", "--state", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert row_id in out.stdout and "dead" in out.stdout and "HTTP 500: boom" in out.stdout
    listed = json.loads(cb("webhooks", "list", "--state", str(tmp_path), "--format", "json").stdout)
    assert listed[0]["id"] == row_id and "body" not in listed[0]

    out = cb("webhooks", "replay", row_id[:10], "--state", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "queued " + row_id in out.stdout
    row = box.get(row_id)
    assert row.status == "pending" and row.attempts == 0


def test_replay_of_an_unknown_id_exits_1_with_a_fix_and_changes_nothing(tmp_path):
    box, row_id = seed(tmp_path)
    out = cb("webhooks", "replay", "whd_nope", "--state", str(tmp_path))
    assert out.returncode == 1
    assert "no webhook delivery" in out.stderr and "cb webhooks list" in out.stderr
    assert box.get(row_id).status == "dead"


def test_a_missing_state_folder_is_a_user_error_and_is_not_created(tmp_path):
    missing = tmp_path / "nope"
    out = cb("webhooks", "list", "--state", str(missing))
    assert out.returncode == 1 and "no state database" in out.stderr and "--state" in out.stderr
    assert not missing.exists()
