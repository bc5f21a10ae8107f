"""Two `cb runner` processes on one PostgreSQL database behind a real HAProxy, and a caller that
holds the line: shared by tests/e2e/test_multi_runner.py and bench/multi_runner.py."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Iterator

import httpx

from cb.contracts.voice_webhook_auth import LOCAL_TOKEN_FILE, local_token
from cb.plugins.local.twilio_peer import TwilioPeer
from cb.plugins.scripted.script import parse
from cb.plugins.scripted.server import ScriptedLLMServer

from tests.e2e.harness import Runner, free_port, start_runner, write_project
from tests.support.receiver import Receiver

HAPROXY = shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy",) if os.path.exists(p)), None)
NUMBER = "+14155550100"
SCRIPT = {"turns": [{"say": "Of course."}], "default": "Of course."}


class HoldingCaller(TwilioPeer):
    """Stays on the line, silent, until ``hang_up`` is set or the runner goes away; notes when
    the agent's first audio (the greeting) arrived."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.hang_up = asyncio.Event()

    @property
    def greeted(self) -> bool:
        return bool(self.trace.media_at)

    async def talk(self) -> None:
        await self.until(lambda: self.hang_up.is_set(), 600)


def haproxy_config(port: int, servers: list[str]) -> str:
    lines = ["global", "  maxconn 200", "defaults", "  mode http", "  timeout connect 2s",
             "  timeout client 60s", "  timeout server 60s", "  timeout tunnel 1h",  # the WebSocket
             "frontend calls", f"  bind 127.0.0.1:{port}", "  default_backend runners",
             "backend runners", "  balance roundrobin"]
    lines += [f"  server r{i} {url.split('://', 1)[1]}" for i, url in enumerate(servers)]
    return "\n".join(lines) + "\n"


class Fleet:
    def __init__(self, root: Path, db: str):
        self.root, self.db = root, db
        self.llm = ScriptedLLMServer(parse(SCRIPT)).__enter__()
        self.hooks = Receiver()
        self.project = write_project(root / "fleet", llm_url=self.llm.url, greeting="Hello from the first revision.",
                                     silence=120)
        agent = self.project / "agents" / "front-desk.yaml"
        agent.write_text(agent.read_text().replace(
            "spec:\n", f'spec:\n  webhook: {{url: "{self.hooks.url}/hook", events: [call.completed, call.failed]}}\n', 1))
        # Runners sharing a fleet share its audit key, and (for local calls) the local signing
        # token, as they would share TWILIO_AUTH_TOKEN for calls from Twilio.
        states = [root / "a" / "state", root / "b" / "state"]
        token = local_token(states[0])
        states[1].mkdir(parents=True)
        fd = os.open(states[1] / LOCAL_TOKEN_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(token)
        self.token = token
        # Admission off (the hard cap alone): this fleet is about sharing calls, and a loaded test
        # machine must not refuse the few calls it places (tests/e2e/test_admission.py owns that).
        env = {"CB_AUDIT_KEY_FILE": str(root / "audit.key"), "CB_ADMISSION": "off"}
        # One process a runner (--workers 1): SIGKILL then takes the whole runner, as a lost host would.
        self.a = start_runner(self.project, states[0], "--state-db", db, "--workers", "1", env=env)
        self.b = start_runner(self.project, states[1], "--state-db", db, "--workers", "1", env=env)
        self.port = free_port()
        (root / "haproxy.cfg").write_text(haproxy_config(self.port, [self.a.url, self.b.url]))
        self.haproxy = subprocess.Popen([HAPROXY, "-db", "-f", str(root / "haproxy.cfg")],
                                        stdout=open(root / "haproxy.log", "w"), stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (root / "haproxy.log").read_text()
            time.sleep(0.05)

    def runners(self) -> list[Runner]:
        return [self.a, self.b]

    def by_id(self, runner_id: str) -> Runner:
        """The runner whose heartbeat id (host/pid/...) this is."""
        pid = int(runner_id.split("/")[1])
        return next(r for r in self.runners() if r.proc.pid == pid)

    def claim(self, call_id: str) -> tuple[str, str | None]:
        """(admitted_by, claimed_by) of a call, read from the fleet's database."""
        import psycopg

        with psycopg.connect(self.db) as conn:
            row = conn.execute("SELECT admitted_by, claimed_by FROM cb_call_claims WHERE call_id = %s",
                               (call_id,)).fetchone()
        assert row is not None, f"{call_id} was never offered to the fleet"
        return row[0], row[1]

    def call(self, url: str | None = None) -> HoldingCaller:
        return HoldingCaller(url or self.url, self.token, to_number=NUMBER)

    def stop(self) -> None:
        for r in self.runners():
            r.stop()
        self.haproxy.terminate()
        self.haproxy.wait(10)
        self.hooks.stop()
        self.llm.__exit__(None, None, None)


@contextlib.contextmanager
def database(server: str) -> Iterator[str]:
    """A fresh database on ``server`` (postgresql://user@host:port), dropped after."""
    import psycopg

    name = "cb_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server + "/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(server + "/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def first_seen(url: str, serial: int, timeout: float = 30) -> float:
    """When ``url`` first serves a serial past ``serial`` (polled every 10 ms over one connection)."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < deadline:
            if client.get(url + "/healthz").json()["serial"] > serial:
                return time.time()  # live by now at the latest
            time.sleep(0.01)
    raise AssertionError(f"{url} did not follow the apply in {timeout}s")
