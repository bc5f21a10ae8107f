"""Section 1: turn latency, the caller's last speech sample -> the agent's first audio frame.

Three stacks, each through a real runner on the real Media Streams WebSocket:

- ``a``: scripted STT, LLM and TTS that answer at once. What is left after the endpointing
  silence (replayed VAD decision -> first frame) is the orchestration's own cost. Target: median <= 30 ms.
- ``b``: scripted providers at published latencies (STT final 150 ms after the end of speech, LLM
  first token 150 ms, first audio 100 ms) and the default endpointing (VAD stop_secs 0.2).
  Targets: median < 450 ms, p95 < 600 ms.
- ``c``: the offline default stack: Whisper tiny.en and Piper in the runner, the scripted LLM. Reported.
- ``d``: ``b`` with ``turn.preemptive_generation`` off, so one run shows what starting the LLM on
  the STT's final transcript (before the VAD's stop) buys. Reported.
"""

from __future__ import annotations

from typing import Any

from . import analyse, voice
from .caller import Step
from .place import place, run
from .stack import Stack

REPLY = "Sure, I can help with that."
VAD_START_SECS, VAD_STOP_SECS = 0.2, 0.2  # the agent defaults (cb.config.models.TurnDetection)

PROFILES: dict[str, dict[str, Any]] = {
    "a": {"title": "scripted, instant (orchestration)", "stt": 0, "llm": 0, "tts": 0},
    "b": {"title": "scripted, published latencies", "stt": 150, "llm": 150, "tts": 100},
    "c": {"title": "offline default (Whisper, Piper, scripted LLM)", "local": True},
    "d": {"title": "as b, preemptive generation off", "stt": 150, "llm": 150, "tts": 100, "preemptive": False},
}
TARGETS = {"a": {"orchestration_ms.median": 30.0}, "b": {"total_ms.median": 450.0, "total_ms.p95": 600.0}}


def stack_for(profile: str, reply: str = REPLY, env: dict[str, str] | None = None) -> Stack:
    p = PROFILES[profile]
    if p.get("local"):
        pipeline: dict[str, Any] = {"stt": {"provider": "whisper"}, "tts": {"provider": "piper"}}
        first_token = 0
    else:
        pipeline = {"stt": {"provider": "scripted", "options": {"delay_ms": p["stt"]}},
                    "tts": {"provider": "scripted", "options": {"first_audio_ms": p["tts"]}}}
        first_token = p["llm"]
    if "preemptive" in p:
        pipeline["turn"] = {"preemptive_generation": p["preemptive"]}
    script = {"turns": [], "default": reply, "first_token_ms": first_token}
    return Stack(pipeline=pipeline, llm_script=script, env=env or {})


def turn_steps(n: int, pause_ms: int = 300) -> list[Step]:
    return [Step("turn", voice.spoken(voice.LINES[i % len(voice.LINES)]), pause_ms=pause_ms) for i in range(n)]


def measure(profile: str, calls: int, turns_per_call: int) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    with stack_for(profile) as stack:
        for _ in range(calls):
            trace = run(place(stack, turn_steps(turns_per_call)))
            if trace.error or trace.refused:
                errors.append(trace.error or trace.refused)
            vad = analyse.vad_replay(trace, VAD_START_SECS, VAD_STOP_SECS)
            rows += analyse.turns(trace, vad)
            record = stack.call_record(trace.call_id) if trace.call_id else None
            runner_turns = (record or {}).get("turns") or []
        metrics = stack.metrics()
        prometheus = stage_means(metrics)
    result = {"profile": profile, "title": PROFILES[profile]["title"], "calls": calls, "turns": len(rows),
              "errors": errors, "runner_breakdown_last_call": runner_turns, "runner_prometheus": prometheus,
              "preemptive_answers": counter(metrics, "cb_preemptive_answers_total", "outcome")}
    for key in ("total_ms", "endpointing_ms", "orchestration_ms"):
        result[key] = analyse.summary([r.get(key) for r in rows])
    result["targets"] = check(result, TARGETS.get(profile, {}))
    return result


def stage_means(text: str) -> dict[str, Any]:
    """Mean of each cb_turn_stage_seconds / cb_turn_latency_seconds histogram on the runner's /metrics:
    the same breakdown production exports."""
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for line in text.splitlines():
        for metric in ("cb_turn_stage_seconds", "cb_turn_latency_seconds"):
            for suffix, into in (("_sum", sums), ("_count", counts)):
                if line.startswith(metric + suffix + "{"):
                    labels, value = line[len(metric + suffix) + 1:].rsplit("} ", 1)
                    stage = dict(kv.split("=", 1) for kv in labels.split(",")).get("stage", '"total"').strip('"')
                    into[stage] = into.get(stage, 0.0) + float(value)
    return {stage: {"count": int(counts[stage]), "mean_ms": round(1000 * sums[stage] / counts[stage], 1)}
            for stage in counts if counts[stage]}


def counter(text: str, metric: str, label: str) -> dict[str, int]:
    """A Prometheus counter from /metrics, summed by one label: e.g. preemptive answers by outcome."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith(metric + "{"):
            labels, value = line[len(metric) + 1:].rsplit("} ", 1)
            key = dict(kv.split("=", 1) for kv in labels.split(",")).get(label, '""').strip('"')
            out[key] = out.get(key, 0) + int(float(value))
    return out


def check(result: dict[str, Any], targets: dict[str, float]) -> dict[str, Any]:
    out = {}
    for path, limit in targets.items():
        key, stat = path.split(".")
        value = (result.get(key) or {}).get(stat)
        out[path] = {"limit": limit, "value": value, "met": value is not None and value <= limit}
    return out


def main(quick: bool = False, profiles: str = "abcd") -> dict[str, Any]:
    calls, turns = (1, 4) if quick else (2, 8)
    return {p: measure(p, calls, turns) for p in profiles}
