"""One scenario as a real call (``cb test --audio``): a runner process on 127.0.0.1 holding the
agent under test, the local simulated caller speaking the scenario's lines over Twilio's Media
Streams protocol (``cb.plugins.local.caller``: Piper speech out, Whisper on what it hears), and the
assertions judged from the runner's own call record (``GET /v1/calls/{id}/export``): its
transcript, tool log, returns, how the call ended and each turn's measured latency.

The runner gets a throwaway project and state folder: the agent (with the scenario's LLM where it
has one, and no webhook: a test never reaches a real receiver), its tools pointed at the
scenario's stubs on 127.0.0.1, its return schema, and a local number. ``${env:}`` references of the
tools resolve to a placeholder, as in text mode.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from cb.config.models import AgentSpec
from cb.config.scenarios import LoadedScenario
from cb.testing.assertions import judge_all
from cb.testing.outcome import Run

from .fleet import Fleet
from .stubs import ToolStubs
from .textcall import _stubbed, judge_run, scenario_llm, with_llm

NUMBER = "+14155550100"
ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
CALLER = {"user": "caller", "caller": "caller", "human": "caller"}
#: The caller speaks once the agent has been silent this long: past a tool call's quiet, so a
#: scripted line answers the agent's whole turn rather than talking over its second half.
AGENT_GAP_MS = 1500


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _doc(kind: str, name: str, spec: Any) -> str:
    return json.dumps({"apiVersion": "cb/v1", "kind": kind, "metadata": {"name": name}, "spec": spec})


def write_project(root: Path, scenario: LoadedScenario, fleet: Fleet, stubs: ToolStubs, profile: str,
                  use_scenario_llm: bool) -> set[str]:
    """The runner's project for this call; returns the ``${env:}`` names its tools reference."""
    name = scenario.spec.agent
    agent: AgentSpec = fleet.agents[name]
    agent = with_llm(agent, scenario_llm(scenario) if use_scenario_llm else None)
    spec = agent.model_dump(mode="json", by_alias=True, exclude_none=True)
    spec.pop("webhook", None)
    docs = [_doc("Agent", name, spec)]
    tools = _stubbed({t: fleet.tools[t] for t in agent.tools if t in fleet.tools}, stubs)
    docs += [_doc("Tool", t, s.model_dump(mode="json", by_alias=True, exclude_none=True)) for t, s in tools.items()]
    if isinstance(agent.returns, str) and agent.returns in fleet.return_schemas:
        docs.append(_doc("ReturnSchema", agent.returns, {"schema": fleet.return_schemas[agent.returns]}))
    docs.append(_doc("Number", f"{name}-test", {"number": NUMBER, "provider": "local", "agent": name}))
    env = set(ENV_REF.findall("\n".join(docs[1:])))
    (root / "agents").mkdir(parents=True)
    (root / "agents" / "agents.yaml").write_text("\n---\n".join(docs) + "\n")
    (root / "cb.yaml").write_text(json.dumps({
        "apiVersion": "cb/v1", "kind": "Project", "name": "cb-test-audio", "paths": ["agents"],
        "defaults": {"profile": profile},
        "tools": {"allow_networks": ["127.0.0.0/8"], **({"env": sorted(env)} if env else {})}}) + "\n")
    return env


class RunnerProcess:
    """``cb runner`` on a free loopback port with its own state folder; ``apply`` deploys ``root``."""

    def __init__(self, root: Path, env: dict[str, str]):
        self.root, self.state = root, root / "state"
        self.url = f"http://127.0.0.1:{_port()}"
        self.log = root / "runner.log"
        self.env = {**os.environ, **env}
        self.proc = subprocess.Popen([sys.executable, "-m", "cb", "runner", "--port", self.url.rsplit(":", 1)[1],
                                      "--state", str(self.state)], cwd=root, env=self.env,
                                     stdout=open(self.log, "w"), stderr=subprocess.STDOUT)

    def ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the runner exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the runner was not ready in {timeout:.0f} s: {self.log.read_text()[-2000:]}")

    def apply(self) -> None:
        done = subprocess.run([sys.executable, "-m", "cb", "apply", "--auto-approve", "--runner", self.url],
                              cwd=self.root, env=self.env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"cb apply into the test runner failed: {(done.stdout + done.stderr)[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


async def _export(url: str, token: str, call_id: str, timeout: float = 90) -> dict[str, Any]:
    """The call record once the call ended and its post-call work (returns) is done."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(headers={"authorization": f"Bearer {token}"}, timeout=10) as http:
        while True:
            r = await http.get(f"{url}/v1/calls/{call_id}/export")
            if r.status_code == 200:
                call = r.json()
                if call.get("ended_at") and call.get("transcript_file"):
                    return call
            if time.monotonic() > deadline:
                raise RuntimeError(f"call {call_id} had no finished record after {timeout:.0f} s")
            await asyncio.sleep(0.3)


def run_from_record(call: dict[str, Any], run: Run) -> None:
    """The call record as what the assertions read."""
    run.transcript = [{"speaker": CALLER.get(str(t.get("speaker") or t.get("role")), "agent"), "text": t.get("text", "")}
                      for t in call.get("transcript") or [] if t.get("text")]
    run.turns = sum(t["speaker"] == "caller" for t in run.transcript)
    run.tool_calls = [{k: c.get(k) for k in ("name", "arguments", "ok", "status", "result", "error", "latency_ms")}
                      for c in call.get("tool_calls") or []]
    run.ended_call = call.get("end_reason") == "end_call"
    run.returns, run.returns_error = call.get("returns"), call.get("returns_error")
    run.latencies_ms = [t["total_ms"] for t in call.get("latency") or [] if t.get("total_ms") is not None]
    if call.get("status") == "failed":  # a provider failed mid-call: say so rather than only what is missing
        run.error = f"the call failed ({call.get('end_reason')}): {call.get('error') or 'no detail recorded'}"[:800]


#: ``caller(runner_url, token, to_number=, context=, lines=, agent_gap_ms=)`` -> an object whose
#: ``await .run()`` places the call and returns ``call_id``, ``refused`` and ``transcript`` (``Heard``
#: items with ``role``): the local plugin's SimulatedCaller, handed in by the CLI (the runner
#: reaches plugins only through the registry).
CallerFactory = Any


async def run_audio(scenario: LoadedScenario, fleet: Fleet, *, caller: CallerFactory, default_profile: str = "local",
                    use_scenario_llm: bool = True, llm_for: Any = None) -> Run:
    """One run of ``scenario`` as a phone call; never raises for the agent's or the runner's sake."""
    from cb.contracts.voice_webhook_auth import local_token

    t0 = time.monotonic()
    run = Run()
    spec = scenario.spec
    runner = None
    try:
        if spec.agent not in fleet.agents:
            raise RuntimeError(f"agent.{spec.agent} is not in this revision")
        with tempfile.TemporaryDirectory(prefix="cb-test-audio-") as tmp, ToolStubs(dict(spec.tools)) as stubs:
            env = write_project(Path(tmp), scenario, fleet, stubs, default_profile, use_scenario_llm)
            runner = RunnerProcess(Path(tmp), {n: "cb-test-placeholder" for n in env})
            await asyncio.to_thread(runner.ready)
            await asyncio.to_thread(runner.apply)
            token = local_token(runner.state, create=False)
            result = await caller(runner.url, token, to_number=NUMBER, context=spec.context or None,
                                  lines=list(spec.caller.lines or []), agent_gap_ms=AGENT_GAP_MS).run()
            if result.refused:
                raise RuntimeError(f"the runner refused the call: {result.refused}")
            run_from_record(await _export(runner.url, token, result.call_id), run)
            run.turns = sum(h.role == "caller" for h in result.transcript)  # lines said, however STT split them
            runner.stop()
        from ..postcall.after_hangup import agent_llm

        await judge_run(spec, fleet.agents[spec.agent], run, llm_for or agent_llm(default_profile))
    except Exception as exc:  # noqa: BLE001 - a runner or LLM that fails is the run's failure, reported
        run.error = f"{type(exc).__name__}: {exc}"[:800]
    finally:
        if runner is not None:
            runner.stop()
    run.seconds = round(time.monotonic() - t0, 3)
    if run.error is None:
        run.checks = judge_all(spec.expect, run)
    return run
