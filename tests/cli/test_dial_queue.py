"""Issue 13 through the CLI and a real runner: `cb call AGENT --to-file contacts.csv` queues a
contacts file as one batch (a bad row named by file:line, and then nothing queued), `cb calls list
--queued` shows what waits and why, a refused call's webhook and `cb calls show` carry the
compliance decisions, and /metrics counts them.

The runner reads the real clock, so the policy's one calling window is set two hours ahead of now
in UTC and every contact says ``tz: Etc/UTC``: each waits, whatever the time the test runs."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from tests.support.control import git, make_cb, start_runner

NUMBER = """\
apiVersion: cb/v1
kind: Number
metadata: {{name: reminders-line}}
spec: {{number: "+14155550123", provider: local, agent: reminders, outbound_calls: true}}
---
apiVersion: cb/v1
kind: Agent
metadata: {{name: reminders}}
spec:
  instructions: You call patients to confirm their visits.
  greeting: "Hello."
  context:
    customer: {{type: object}}
  compliance: [later]
  webhook: {{url: "{hook}/hook", events: [call.completed, call.failed]}}
---
apiVersion: cb/v1
kind: CompliancePolicy
metadata: {{name: later}}
spec:
  calling_windows: [{{days: [mon, tue, wed, thu, fri, sat, sun], start: "{start}", end: "{end}"}}]
  do_not_call: [{{type: numbers, numbers: ["+12125550199"]}}]
"""


@pytest.fixture
def fleet(tmp_path, receiver, monkeypatch):
    hook = receiver([200])
    start = datetime.now(timezone.utc) + timedelta(hours=2)
    if start.hour == 23:
        start = start.replace(hour=1)  # 01:00-02:00 UTC is still ahead of a test run at 21:xx-22:xx
    project = tmp_path / "fleet"
    (project / "agents").mkdir(parents=True)
    (project / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: outbound\npaths: [agents]\n")
    (project / "agents" / "reminders.yaml").write_text(NUMBER.format(
        hook=hook.url, start=f"{start.hour:02d}:00", end=f"{start.hour + 1:02d}:00"))
    (project / ".gitignore").write_text("cb.lock\n")
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "fleet")
    monkeypatch.chdir(project)
    runner = start_runner(tmp_path / "state")
    try:
        cb = make_cb(runner.url, monkeypatch)
        res = cb("apply", "--auto-approve")
        assert res.exit_code == 0, res.output
        yield runner, cb, hook, project
    finally:
        runner.stop()


def queue(runner, all=False):
    return httpx.get(runner.url + "/v1/dial-queue", params={"all": "true"} if all else {}, timeout=10).json()


def test_a_contacts_file_is_queued_shown_waiting_and_a_refusal_is_in_the_webhook_and_the_record(fleet):
    runner, cb, hook, project = fleet
    bad = project / "bad.csv"
    bad.write_text("number,context.customer.first_name,tz\n"
                   "+12125550100,Maria,Etc/UTC\n"
                   "212-555-0101,Ann,Etc/UTC\n"
                   "+12125550102,Bo,Mars/Olympus\n")
    res = cb("call", "reminders", "--to-file", str(bad))
    assert res.exit_code == 1
    assert f"{bad}:3: number '212-555-0101' is not E.164; fix:" in res.output
    assert f"{bad}:4: tz 'Mars/Olympus' is not a time zone; fix:" in res.output
    assert "nothing was queued" in res.output

    # a row only the runner can judge (the agent declares customer an object): named by its line too
    typed = project / "typed.csv"
    typed.write_text("number,context.customer,tz\n+12125550100,Maria,Etc/UTC\n")
    res = cb("call", "reminders", "--to-file", str(typed))
    assert res.exit_code == 1 and f"{typed}:2: " in res.output and "customer" in res.output, res.output
    assert queue(runner, all=True)["queue"] == []

    good = project / "contacts.csv"
    good.write_text('number,context,tz,consent.when,consent.how\n'
                    '+12125550100,"{""customer"": {""first_name"": ""Maria""}}",Etc/UTC,2026-01-05,web form\n'
                    '+12125550101,,Etc/UTC,,\n'
                    '+12125550199,,Etc/UTC,,\n')
    res = cb("call", "reminders", "--to-file", str(good))
    assert res.exit_code == 0 and "queued 3 calls to reminders" in res.output, res.output

    refused = None
    for _ in range(100):  # the dialler's loop judges the batch within a tick
        refused = next((e for e in queue(runner, all=True)["queue"] if e["status"] == "refused"), None)
        if refused and refused["call_id"]:
            break
        time.sleep(0.1)
    assert refused and refused["to_number"] == "+12125550199" and refused["reason"].startswith("do_not_call")

    res = cb("call", "reminders", "--to", "+12125550103")  # one call waits too, and says why
    assert res.exit_code == 0 and "waits: calling_window (later)" in res.output, res.output

    res = cb("calls", "list", "--queued")
    assert res.exit_code == 0, res.output
    waiting = [ln for ln in res.output.splitlines() if ln.startswith("q_")]
    assert len(waiting) == 3 and all("calling_window (later)" in ln for ln in waiting), res.output
    assert "+12125550100" in res.output and "+12125550199" not in res.output
    entry = next(e for e in queue(runner)["queue"] if e["to_number"] == "+12125550100")
    assert entry["consent"] == {"when": "2026-01-05", "how": "web form"}
    assert entry["context"] == {"customer": {"first_name": "Maria"}}

    res = cb("calls", "show", refused["call_id"])
    assert res.exit_code == 0 and "compliance" in res.output
    assert any(ln.split()[:2] == ["do_not_call", "refused"] for ln in res.output.splitlines()), res.output

    body = hook.wait_for(1)[0].json()
    assert body["status"] == "refused" and body["to_number"] == "+12125550199"
    assert body["compliance"] == [{"rule": "do_not_call", "policy": "later", "outcome": "refused",
                                   "detail": body["compliance"][0]["detail"], "until": None}]

    metrics = httpx.get(runner.url + "/metrics", timeout=10).text
    assert 'cb_compliance_decisions_total{outcome="refused",rule="do_not_call"} 1.0' in metrics
    assert 'cb_compliance_decisions_total{outcome="wait",rule="calling_window"}' in metrics
