"""A real runner process on a free loopback port, a project in a tmp dir, and `cb apply` into it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from click.testing import CliRunner

from cb.cli import cli

AGENT = """\
apiVersion: cb/v1
kind: Agent
metadata: {{name: {name}}}
spec:
  greeting: "{greeting}"
  instructions: |
    {instructions}
  pipeline:
    llm: {{provider: openai, model: scripted, options: {{base_url: "{llm_url}"}}}}
    turn: {{vad_stop_secs: 0.3}}
    interruptions: {{enabled: true, min_speech_ms: 200}}
  tools: [end_call]
  phone: {{silence_timeout_sec: {silence}, max_duration_sec: {max_duration}}}
  context:
    business_name: {{type: string, default: Bright Smile Dental}}
---
apiVersion: cb/v1
kind: Number
metadata: {{name: {name}-main}}
spec:
  number: "{number}"
  provider: local
  agent: {name}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_project(root: Path, *, llm_url: str, instructions: str = "You are the front desk of {{ business_name }}.",
                  greeting: str = "Thanks for calling {{ business_name }}. How can I help?",
                  name: str = "front-desk", number: str = "+14155550100", silence: int = 30,
                  max_duration: int = 120) -> Path:
    (root / "agents").mkdir(parents=True, exist_ok=True)
    (root / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: e2e\npaths: [agents]\n"
                                      "tools: {allow_networks: [127.0.0.0/8]}\n")
    (root / "agents" / f"{name}.yaml").write_text(AGENT.format(
        name=name, greeting=greeting, instructions=instructions, llm_url=llm_url, number=number, silence=silence, max_duration=max_duration))
    return root


@dataclass
class Runner:
    url: str
    state_dir: Path
    proc: subprocess.Popen
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def apply(self, project: Path, *args: str) -> tuple[int, str]:
        old = os.getcwd()
        os.chdir(project)
        try:
            res = CliRunner().invoke(cli, ["apply", "--auto-approve", "--runner", self.url, *args],
                                     catch_exceptions=False)
        finally:
            os.chdir(old)
        return res.exit_code, res.output


def _admission(env: dict[str, str] | None) -> dict[str, str]:
    """Admission off unless the test sets it: a test's few local-stack calls on 2 shared cores read
    callers' audio late for a moment (Whisper transcribing), and admission rightly refuses the next
    call then; tests/e2e/test_admission.py is where that is tested."""
    return {} if any(k.startswith(("CB_ADMIT", "CB_ADMISSION")) for k in (env or {})) else {"CB_ADMISSION": "off"}


def start_runner(project: Path, state_dir: Path, *extra: str, env: dict[str, str] | None = None,
                 ready: bool = True) -> Runner:
    """A `cb runner` process on a free loopback port, returned once /readyz says 200; with
    ``ready=False`` at once (its background work, e.g. webhook delivery, starts before readiness)."""
    port = free_port()
    log = state_dir.parent / f"runner-{port}.log"
    state_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "cb", "runner", "--port", str(port), "--state", str(state_dir), *extra],
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=project,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", **_admission(env), **(env or {})})
    url = f"http://127.0.0.1:{port}"
    if not ready:
        return Runner(url, state_dir, proc, log)
    deadline = time.monotonic() + 120  # a runner with workers is ready once each has loaded its models
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"runner exited {proc.returncode}: {log.read_text()}")
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return Runner(url, state_dir, proc, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"runner did not become ready in 120 s: {log.read_text()}")


def call_once(tmp_path: Path, agents_yaml: str, lines: list, *, env: dict[str, str] | None = None):
    """A one-file project from ``agents_yaml``, a runner, `cb apply`, one local call to
    +14155550100 speaking ``lines``, and the runner stopped. Returns (runner, CallResult)."""
    import asyncio

    from cb.contracts.voice_webhook_auth import local_token
    from cb.plugins.local.caller import SimulatedCaller

    project = tmp_path / "fleet"
    (project / "agents").mkdir(parents=True)
    (project / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: e2e\npaths: [agents]\n"
                                      "tools: {allow_networks: [127.0.0.0/8]}\n")
    (project / "agents" / "agents.yaml").write_text(agents_yaml)
    runner = start_runner(project, tmp_path / "state", env=env)
    try:
        code, out = runner.apply(project)
        assert code == 0, out
        caller = SimulatedCaller(runner.url, local_token(runner.state_dir, create=False), to_number="+14155550100",
                                 lines=lines)
        return runner, asyncio.run(caller.run())
    finally:
        runner.stop()
