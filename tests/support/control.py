"""A real runner subprocess on a free loopback port, a small project in a git repo, and `cb`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from click.testing import CliRunner

from cb.cli import cli

ROOT = Path(__file__).resolve().parents[2]

AGENT = """\
apiVersion: cb/v1
kind: Agent
metadata: {{name: {name}}}
spec:
  instructions: |
    You are the {name} agent.
    Keep replies short.
  greeting: "{greeting}"
  tools: [lookup, end_call]
  returns: outcome
---
"""
SHARED = """\
apiVersion: cb/v1
kind: Tool
metadata: {name: lookup}
spec:
  description: Look something up.
  http:
    url: http://127.0.0.1:9/lookup
    headers: {Authorization: "Bearer ${env:LOOKUP_TOKEN}"}
---
apiVersion: cb/v1
kind: ReturnSchema
metadata: {name: outcome}
spec:
  schema: {type: object, properties: {intent: {type: string}}}
---
apiVersion: cb/v1
kind: Number
metadata: {name: main}
spec:
  number: "+14155550100"
  provider: local
  agent: front-desk
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Runner:
    url: str
    state_dir: Path
    proc: subprocess.Popen

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_runner(state_dir: Path, *extra: str, env: dict[str, str] | None = None) -> Runner:
    port = free_port()
    log = open(state_dir.parent / f"runner-{port}.log", "w")
    proc = subprocess.Popen([sys.executable, "-c", "from cb.cli import main; main()", "runner", "--port", str(port), "--state", str(state_dir), *extra],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, cwd=state_dir.parent)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"runner exited {proc.returncode}: {Path(log.name).read_text()}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return Runner(url, state_dir, proc)
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("runner did not become healthy in 30 s")


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[Runner]:
    r = start_runner(tmp_path / "state")
    yield r
    r.stop()


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Ann Author", "GIT_AUTHOR_EMAIL": "ann@example.com",
           "GIT_COMMITTER_NAME": "Ann Author", "GIT_COMMITTER_EMAIL": "ann@example.com"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout.strip()


class Project:
    """A small fleet in its own git repository."""

    def __init__(self, root: Path):
        self.root = root
        (root / "agents").mkdir(parents=True, exist_ok=True)
        (root / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: test-fleet\npaths: [agents]\n"
                                        "tools: {env: [LOOKUP_*], allow_networks: [127.0.0.0/8]}\n")
        # cb.lock is committed in a real fleet; here it would only get in the way of switching branches.
        (root / ".gitignore").write_text("*.cbplan\ncb.lock\n")
        self.write_agent("front-desk", "Hello!")
        (root / "agents" / "shared.yaml").write_text(SHARED)
        git(root, "init", "-q", "-b", "main")
        self.commit("first fleet")

    def write_agent(self, name: str, greeting: str) -> None:
        (self.root / "agents" / f"{name}.yaml").write_text(AGENT.format(name=name, greeting=greeting))

    def commit(self, message: str, allow_empty: bool = False) -> str:
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "-m", message, *(["--allow-empty"] if allow_empty else []))
        return git(self.root, "rev-parse", "HEAD")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    p = Project(tmp_path / "fleet")
    monkeypatch.chdir(p.root)
    return p


@dataclass
class Result:
    exit_code: int
    output: str


@pytest.fixture
def cb(runner: Runner, monkeypatch: pytest.MonkeyPatch):
    """Run `cb ARGS` in-process (click's runner) against the test's runner; returns exit code and output."""
    return make_cb(runner.url, monkeypatch)


def make_cb(url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CB_RUNNER_URL", url)
    monkeypatch.setenv("CB_APPLIED_BY", "ci-bot")
    for var in ("GITHUB_SHA", "GITHUB_REF", "GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_SHA", "CB_TOKEN"):
        monkeypatch.delenv(var, raising=False)

    def run(*args: str, input: str | None = None) -> Result:
        res = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
        return Result(res.exit_code, res.output)

    return run
