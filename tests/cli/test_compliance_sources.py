"""Issue 13's last two items against a real runner: a do-not-call list served by a URL (a
loopback HTTP server) is fetched on apply, refuses its numbers, survives its server failing and
a restart without it (the cached list, reported stale by /readyz and `cb plan`), and `cb calls
export --compliance` writes every decision, refused and dialled, as CSV and JSON."""

from __future__ import annotations

import csv
import json
import time
from http.server import BaseHTTPRequestHandler

import httpx
import pytest

from tests.fakes.loopback import LoopbackServer
from tests.support.control import git, make_cb, start_runner

FLEET = """\
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
  compliance: [lists]
---
apiVersion: cb/v1
kind: CompliancePolicy
metadata: {{name: lists}}
spec:
  do_not_call: [{{type: url, url: "{url}", refresh_minutes: {every}}}]
"""


class ListServer:
    """Serves the list while ``ok``; 500 after."""

    def __init__(self):
        self.ok, self.hits = True, 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.hits += 1
                body = b"# our do-not-call list\n+12125550199\n+12125550198\n" if outer.ok else b"oops"
                self.send_response(200 if outer.ok else 500)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = LoopbackServer(Handler, "dnc-list")
        self.url = f"http://127.0.0.1:{self.server.port}/dnc.txt"


def ready(runner):
    return httpx.get(runner.url + "/readyz", timeout=10).json()


def until(check, what, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def call(runner, to):
    r = httpx.post(runner.url + "/v1/calls", json={"agent": "reminders", "to": to}, timeout=30)
    return r.status_code, r.json()


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    lists = ListServer()
    project = tmp_path / "fleet"
    (project / "agents").mkdir(parents=True)
    (project / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: outbound\npaths: [agents]\n")
    (project / "agents" / "reminders.yaml").write_text(FLEET.format(url=lists.url, every=60))
    (project / ".gitignore").write_text("cb.lock\n")
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "fleet")
    monkeypatch.chdir(project)
    runners = [start_runner(tmp_path / "state")]
    try:
        yield runners, lists, project, tmp_path, monkeypatch
    finally:
        for r in runners:
            r.stop()
        lists.server.stop()


def test_a_url_list_is_fetched_on_apply_cached_and_reported_stale_and_the_decisions_export(fleet):
    runners, lists, project, tmp_path, monkeypatch = fleet
    runner = runners[0]
    cb = make_cb(runner.url, monkeypatch)
    assert ready(runner)["do_not_call_stale"] == {}
    res = cb("apply", "--auto-approve")
    assert res.exit_code == 0, res.output
    until(lambda: lists.hits and ready(runner)["do_not_call_stale"] == {}, "the list fetched on apply")

    status, body = call(runner, "+12125550199")
    assert status == 403, body
    assert body["compliance"][-1]["rule"] == "do_not_call" and "+12125550199 is on" in body["compliance"][-1]["detail"]
    until(lambda: ready(runner)["ready"], "the runner to take calls", timeout=120)
    status, dialled = call(runner, "+12125550100")
    assert status == 201 and dialled["id"], dialled

    # the source fails; an apply that changes the policy fetches again: the cached list stays in use
    lists.ok = False
    (project / "agents" / "reminders.yaml").write_text(FLEET.format(url=lists.url, every=30))
    git(project, "commit", "-qam", "refresh every half hour")
    hits = lists.hits
    res = cb("apply", "--auto-approve")
    assert res.exit_code == 0, res.output
    stale = until(lambda: lists.hits > hits and ready(runner)["do_not_call_stale"], "the failed refresh")
    assert stale["lists"][0]["source"] == 0 and stale["lists"][0]["cached"] and "HTTP 500" in stale["lists"][0]["error"]
    assert lists.url not in json.dumps(ready(runner))  # names only
    assert call(runner, "+12125550198")[0] == 403

    # a restart with the list's server gone: the last good list still refuses, and is reported
    runner.stop()
    lists.server.stop()
    runner = start_runner(tmp_path / "state")
    runners.append(runner)
    cb = make_cb(runner.url, monkeypatch)
    status, body = call(runner, "+12125550199")
    assert status == 403 and body["compliance"][-1]["rule"] == "do_not_call", body
    assert ready(runner)["do_not_call_stale"]["lists"][0]["cached"]
    res = cb("plan")
    assert "warning: compliance_policy.lists do_not_call[0]: its URL could not be read" in res.output, res.output
    assert "calls use the list fetched at" in res.output

    # the audit export: every decision, refused and dialled
    out = tmp_path / "audit.csv"
    res = cb("calls", "export", "--compliance", "--since", "2020-01-01", "--out", str(out))
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["when", "call_id", "queue_id", "number", "agent", "rule", "policy", "outcome",
                             "detail", "until"]
    refused = [r for r in rows if r["number"] == "+12125550199"]
    assert len(refused) == 2 and all(r["outcome"] == "refused" and r["rule"] == "do_not_call"
                                     and r["policy"] == "lists" and r["call_id"] and r["queue_id"] for r in refused)
    allowed = [r for r in rows if r["number"] == "+12125550100"]
    assert [(r["rule"], r["outcome"]) for r in allowed][:1] == [("do_not_call", "allowed")]
    assert allowed[0]["call_id"] == dialled.get("id") and allowed[0]["agent"] == "agent.reminders"
    res = cb("calls", "export", "--compliance", "--format", "json", "--until", "2020-01-01")
    assert res.exit_code == 0 and json.loads(res.output) == [], res.output
    res = cb("calls", "export", "--compliance", "--format", "json", "--since", "yesterday")
    assert res.exit_code == 1 and "is not a date" in res.output
