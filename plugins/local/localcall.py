"""``cb call AGENT --local``: place a simulated call into a runner and report what happened.

The scenario is a list of lines (``--say`` or a YAML file), the caller is ``SimulatedCaller``,
and the report is the live transcript (what the caller heard, as Whisper recognised it) followed
by the runner's call record (what the agent heard, the revision that answered, turn latency).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import httpx
import yaml

from cb.contracts.voice_webhook_auth import local_token

from .caller import CallResult, Heard, Line, SimulatedCaller


class LocalCallError(Exception):
    """Something the user can fix (no runner, no token, bad scenario); the message says how."""


@dataclass
class Scenario:
    lines: list[Line]
    context: dict[str, Any] = field(default_factory=dict)
    from_number: str = "+15005550006"
    to_number: str | None = None


def load_scenario(path: str | None, say: tuple[str, ...]) -> Scenario:
    """Lines from ``--say`` (in order) or a YAML file: ``lines: [{say, barge_in_after_ms}], context: {}``."""
    if path is None:
        if not say:
            raise LocalCallError("nothing to say: give --say TEXT (repeatable) or --scenario FILE")
        return Scenario([Line(s) for s in say])
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise LocalCallError(f"{path}: cannot read the scenario: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise LocalCallError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("lines"), list) or not data["lines"]:
        raise LocalCallError(f"{path}: a scenario needs `lines:`, a list of strings or {{say: TEXT}} mappings")
    lines = []
    for i, raw in enumerate(data["lines"]):
        raw = {"say": raw} if isinstance(raw, str) else raw
        if not isinstance(raw, dict) or not isinstance(raw.get("say"), str):
            raise LocalCallError(f"{path}: lines[{i}] needs `say: TEXT`")
        unknown = set(raw) - {"say", "barge_in_after_ms", "pause_ms"}
        if unknown:
            raise LocalCallError(f"{path}: lines[{i}] has unknown keys {sorted(unknown)}; use say, barge_in_after_ms, pause_ms")
        lines.append(Line(raw["say"], raw.get("barge_in_after_ms"), int(raw.get("pause_ms", 300))))
    context = data.get("context") or {}
    if not isinstance(context, dict):
        raise LocalCallError(f"{path}: `context` must be a mapping of variable names to values")
    return Scenario(lines, context, str(data.get("from", "+15005550006")), data.get("to"))


def load_callee(path: str | None, say: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The simulated callee of ``cb call AGENT --to … --local`` and the call's context: ``--say``
    lines, or a YAML file with ``lines:`` (a person) or ``machine: {greeting, beep_after_ms}`` (an
    answering machine), optional ``answer_after_ms``, ``outcome`` and ``context``."""
    if path is None:
        return ({"lines": list(say)} if say else {}), {}
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise LocalCallError(f"{path}: cannot read the scenario: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise LocalCallError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise LocalCallError(f"{path}: a callee scenario is a mapping: lines: [...] or machine: {{greeting: ...}}")
    context = data.pop("context", None) or {}
    if not isinstance(context, dict):
        raise LocalCallError(f"{path}: `context` must be a mapping of variable names to values")
    from pydantic import ValidationError

    from cb.contracts.outbound_call import SimulatedCallee

    try:
        SimulatedCallee.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'scenario'}: {e['msg']}" for e in exc.errors())
        raise LocalCallError(f"{path}: {problems}") from None
    return data, context


#: The dialled number when the agent has no Number: the call is routed by agent name, not by it.
NO_NUMBER = "+10000000000"


def number_of(agent: str, cwd: str | Path | None = None) -> str | None:
    """The E.164 number of the project's Number that the agent answers, so the call record reads
    as a real call to it (routing is by agent name either way)."""
    from cb.config.project import load_project

    project, _ = load_project(None, cwd)
    return next((n.spec.number for n in project.of_kind("Number") if n.spec.agent == agent), None)


def place(runner_url: str, state_dir: str | Path, agent: str, scenario: Scenario,
          on_heard: Callable[[Heard], None] | None = None) -> CallResult:
    token = local_token(state_dir, create=False)
    if token is None:
        raise LocalCallError(f"no local webhook token in {state_dir}: start the runner with that state folder "
                             "(cb runner --state DIR), or pass --state")
    try:
        httpx.get(runner_url.rstrip("/") + "/healthz", timeout=5)
    except httpx.HTTPError:
        raise LocalCallError(f"no runner answers at {runner_url}: start one with `cb runner`") from None
    caller = SimulatedCaller(runner_url, token, to_number=scenario.to_number or number_of(agent) or NO_NUMBER,
                             from_number=scenario.from_number, lines=scenario.lines,
                             context=scenario.context, agent=agent, on_heard=on_heard)
    result = asyncio.run(caller.run())
    if result.refused:
        raise LocalCallError(f"the runner did not take the call: {result.refused}")
    return result


def fetch_record(runner_url: str, call_id: str, token: str | None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    resp = httpx.get(f"{runner_url.rstrip('/')}/v1/calls/{call_id}", headers=headers, timeout=10)
    if resp.status_code != 200:
        raise LocalCallError(f"could not read call record {call_id}: {resp.status_code} {resp.text[:200]}")
    return resp.json()


def render_heard(h: Heard) -> str:
    return f"[{h.at_ms / 1000:6.1f}s] {h.role:>6}: {h.text}"


def render_record(rec: dict[str, Any], result: CallResult) -> str:
    out = [f"call {rec['id']}  {rec['agent']}@{rec['agent_revision'][:12]}  (state serial {rec['state_serial']})",
           f"  status {rec['status']}, ended by {rec['end_reason']}; {rec['direction']} {rec['from_number']} -> "
           f"{rec['to_number']}; {rec['started_at']} .. {rec['ended_at']}"]
    if rec.get("error"):
        out.append(f"  error: {rec['error']}")
    out.append("  transcript (as the agent heard and said it):")
    out += [f"    {t['role']:>6}: {t['text']}" for t in rec.get("transcript") or []]
    if rec.get("turns"):
        out.append("  turn latency, ms (caller stopped -> agent's first audio):")
        out.append("    turn  endpointing    stt  llm-1st-token  tts-1st-audio   total")
        for t in rec["turns"]:
            cells = [f"{t.get(k):.0f}" if t.get(k) is not None else "-" for k in
                     ("endpointing_ms", "stt_ms", "llm_first_token_ms", "tts_first_audio_ms", "total_ms")]
            out.append(f"    {t['turn']:>4}  {cells[0]:>11}  {cells[1]:>5}  {cells[2]:>13}  {cells[3]:>13}  {cells[4]:>6}")
    if result.response_ms:
        out.append("  heard by the caller, ms from its last word to the agent's first audio: "
                   + ", ".join(f"{v:.0f}" for v in result.response_ms))
    if result.clear_ms:
        out.append("  barge-in, ms from the caller's first word to Twilio clear: "
                   + ", ".join(f"{v:.0f}" for v in result.clear_ms))
    return "\n".join(out)
