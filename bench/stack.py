"""What a benchmark runs against: a real `cb runner` process, a scripted LLM process, one agent.

Every process binds 127.0.0.1 on a free port and is stopped by ``Stack.close`` (a context
manager), so a benchmark that fails half-way leaves nothing running. The agent is applied with
the real `cb apply`, so the call path sees exactly what production would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

NUMBER = "+14155550123"
AGENT = "bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def agent_yaml(pipeline: dict[str, Any], greeting: str) -> str:
    agent = {"apiVersion": "cb/v1", "kind": "Agent", "metadata": {"name": AGENT},
             "spec": {"greeting": greeting, "instructions": "You are a benchmark agent.\n", "pipeline": pipeline,
                      "phone": {"silence_timeout_sec": 60, "max_duration_sec": 600}}}
    number = {"apiVersion": "cb/v1", "kind": "Number", "metadata": {"name": f"{AGENT}-main"},
              "spec": {"number": NUMBER, "provider": "local", "agent": AGENT}}
    return yaml.safe_dump(agent, sort_keys=False) + "---\n" + yaml.safe_dump(number, sort_keys=False)


@dataclass
class Stack:
    """A runner with one agent applied, and the scripted LLM it talks to."""

    pipeline: dict[str, Any]  # spec.pipeline; ``llm`` is filled in when llm_script is given
    llm_script: dict[str, Any] | None = None
    greeting: str = "Hello, thanks for calling."
    env: dict[str, str] = field(default_factory=dict)  # extra runner environment (CB_MAX_CALLS, ...)
    runner_args: tuple[str, ...] = ()  # extra `cb runner` options (--workers N)
    runner_module: str = "cb"  # `python -m <this> runner ...`: bench/quality.py taps the TTS in the runner's process
    tmp: Path | None = None
    url: str = ""
    token: str = ""
    procs: list[subprocess.Popen] = field(default_factory=list)

    def __enter__(self) -> "Stack":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def runner_pid(self) -> int:
        return self.procs[-1].pid

    def start(self) -> None:
        self._tmpdir = tempfile.TemporaryDirectory(prefix="cb-bench-")
        self.tmp = Path(self._tmpdir.name)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        pipeline = dict(self.pipeline)
        if self.llm_script is not None:
            script = self.tmp / "llm.json"
            script.write_text(json.dumps(self.llm_script))
            llm = subprocess.Popen([sys.executable, "-m", "cb.plugins.scripted.server", "--script", str(script)],
                                   stdout=subprocess.PIPE, stderr=open(self.tmp / "llm.log", "w"), text=True, env=env)
            self.procs.append(llm)
            base_url = llm.stdout.readline().strip()
            if not base_url.startswith("http://127.0.0.1"):
                raise RuntimeError(f"scripted LLM did not start: {(self.tmp / 'llm.log').read_text()}")
            pipeline["llm"] = {"provider": "openai", "model": "scripted", "options": {"base_url": base_url}}
        project = self.tmp / "project"
        (project / "agents").mkdir(parents=True)
        (project / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: bench\npaths: [agents]\n")
        (project / "agents" / f"{AGENT}.yaml").write_text(agent_yaml(pipeline, self.greeting))
        port = free_port()
        state = self.tmp / "state"
        self.log = self.tmp / "runner.log"
        runner = subprocess.Popen([sys.executable, "-m", self.runner_module, "runner", "--port", str(port), "--state", str(state),
                                   *self.runner_args],
                                  stdout=open(self.log, "w"), stderr=subprocess.STDOUT, cwd=project,
                                  env={**env, **self.env})
        self.procs.append(runner)
        self.url = f"http://127.0.0.1:{port}"
        self._wait_ready(runner)
        out = subprocess.run([sys.executable, "-m", "cb", "apply", "--auto-approve", "--runner", self.url],
                             cwd=project, capture_output=True, text=True, env=env)
        if out.returncode != 0:
            raise RuntimeError(f"cb apply failed:\n{out.stdout}\n{out.stderr}")
        self.token = (state / "local-twilio-token").read_text().strip()

    def _wait_ready(self, proc: subprocess.Popen) -> None:
        deadline = time.monotonic() + 180  # with --workers, ready once every worker has loaded its models
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"runner exited {proc.returncode}: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"runner not ready in 180 s: {self.log.read_text()[-3000:]}")

    def metrics(self) -> str:
        return httpx.get(self.url + "/metrics", timeout=5).text

    def call_record(self, call_id: str) -> dict[str, Any] | None:
        resp = httpx.get(f"{self.url}/v1/calls/{call_id}", timeout=5)
        return resp.json() if resp.status_code == 200 else None

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.procs.clear()
        if getattr(self, "_tmpdir", None) is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None
