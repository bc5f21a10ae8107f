"""A declared field the runtime does not act on is a warning in `cb validate` and `cb plan`, never silence."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cb.config.enforcement import NOT_ENFORCED
from cb.config.project import load_project

FLEET = """\
apiVersion: cb/v1
kind: CompliancePolicy
metadata: {name: us}
spec:
  calling_windows: [{days: [mon], start: "09:00", end: "17:00"}]
  do_not_call: [{type: numbers, numbers: ["+14155550199"]}]
  recording_consent: {required: true, disclosure: "This call is recorded."}
  attempts: {max_per_number: 2}
  pacing: {max_calls_per_minute: 5}
  attestation: A
---
apiVersion: cb/v1
kind: Agent
metadata: {name: a}
spec:
  instructions: hi
  compliance: [us]
  phone: {voicemail: leave_message, voicemail_message: "call us back"}
---
apiVersion: cb/v1
kind: Number
metadata: {name: main}
spec:
  number: "+14155550100"
  agent: a
  outbound_calls: true
  options: {region: us1}
"""


def project(tmp_path: Path) -> Path:
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "fleet.yaml").write_text(FLEET)
    (tmp_path / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: t\n")
    return tmp_path


def cb(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cb", *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "CB_RUNNER_URL": "http://127.0.0.1:9"})


def test_every_row_of_the_table_is_a_warning_where_declared(tmp_path):
    _, diags = load_project(None, cwd=project(tmp_path))
    warned = {(d.address, d.message.split(":")[0]) for d in diags if d.code == "CB801"}
    assert all(d.severity == "warning" for d in diags if d.code == "CB801")
    addresses = {"CompliancePolicy": "compliance_policy.us", "Agent": "agent.a", "Number": "number.main"}
    expected = {(addresses[kind], ".".join(path[1:])) for kind, path in NOT_ENFORCED}
    assert warned == expected


def test_validate_warns_with_file_and_line_and_still_exits_0(tmp_path):
    proc = cb("validate", cwd=project(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("OK: 3 resources")
    assert ("agents/fleet.yaml:27:3: warning[CB801] number.main: options: number options are not read by any "
            "number provider yet") in proc.stderr
    assert "attestation" not in proc.stderr  # enforced for inbound calls: runner/compliance/inbound.py
    assert "recording_consent" not in proc.stderr  # enforced: runner/compliance/disclosure.py
    assert "number.main: options: number options are not read by any number provider yet" in proc.stderr
    as_json = json.loads(cb("validate", "--format", "json", cwd=tmp_path).stdout)
    assert as_json["valid"] and sum(d["name"] == "not-enforced" for d in as_json["diagnostics"]) == len(NOT_ENFORCED)


def test_plan_shows_the_warnings_too(tmp_path):
    proc = cb("plan", cwd=project(tmp_path))  # no runner at :9: the plan fails, after the warnings
    assert "number.main: options: number options are not read by any number provider yet" in proc.stderr


def test_an_undeclared_field_is_not_warned_about(tmp_path):
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "a.yaml").write_text(
        "apiVersion: cb/v1\nkind: Agent\nmetadata: {name: a}\nspec:\n  instructions: hi\n")
    _, diags = load_project(None, cwd=tmp_path)
    assert diags == []
