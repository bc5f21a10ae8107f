"""Prometheus metrics of the call path, on a registry of its own per app (tests run many apps)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
# The parts of a turn are tens of milliseconds each: finer buckets, so a p95 of one is readable.
STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.0, 5.0)
#: the per-turn breakdown (runner.calls.observe) exported as cb_turn_stage_seconds{stage=...}
STAGES = {"endpointing_ms": "endpointing", "stt_ms": "stt", "llm_first_token_ms": "llm_first_token",
          "tts_first_audio_ms": "tts_first_audio"}


class CallMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.active = Gauge("cb_calls_active", "Calls in progress", registry=r)
        self.started = Counter("cb_calls_started_total", "Calls answered", ["agent"], registry=r)
        self.ended = Counter("cb_calls_ended_total", "Calls ended", ["agent", "status", "end_reason"], registry=r)
        self.refused = Counter("cb_calls_refused_total", "Calls refused", ["reason"], registry=r)
        self.webhook_rejected = Counter("cb_twilio_webhook_rejected_total", "Webhooks refused", ["reason"], registry=r)
        self.turn_latency = Histogram("cb_turn_latency_seconds", "Caller's last speech to agent's first audio",
                                      ["agent"], buckets=LATENCY_BUCKETS, registry=r)
        self.turn_stage = Histogram("cb_turn_stage_seconds", "One part of a turn's latency (see runner.calls.observe)",
                                    ["agent", "stage"], buckets=STAGE_BUCKETS, registry=r)
        self.loop_lag = Gauge("cb_event_loop_lag_seconds", "How late the event loop ran a 100 ms timer", registry=r)
        self.ceiling = Gauge("cb_admission_ceiling_calls", "Calls this worker can hold, measured (cb.runner.admission)",
                             registry=r)
        self.pacing_misses = Gauge("cb_pacing_miss_ratio", "Share of agent audio frames sent late (smoothed)", registry=r)
        self.input_backlog = Gauge("cb_input_backlog_seconds", "How late callers' audio is read (worst, smoothed)",
                                   registry=r)
        self.interruptions = Counter("cb_interruptions_total", "Caller barge-ins", ["agent"], registry=r)
        self.preemptive = Counter("cb_preemptive_answers_total",
                                  "Answers started on an early transcript: played, or withdrawn (an LLM request spent)",
                                  ["agent", "outcome"], registry=r)
        self.pauses = Counter("cb_agent_pauses_total", "Times the agent paused on the caller's first voiced window",
                              ["agent"], registry=r)
        self.cost = Counter("cb_call_cost_usd", "What calls cost in US dollars (cb.pricing)", ["agent", "provider"],
                            registry=r)
        self.connected = Counter("cb_call_connected_seconds", "Connected call time, for cost per minute", ["agent"],
                                 registry=r)

    def observe_admission(self, reading: Any, limits: Any) -> None:
        """The admission signal's reading (cb.runner.admission), each tick."""
        ceiling = reading.ceiling_for(limits.cpu_budget)
        self.ceiling.set(min(ceiling, limits.max_calls) if ceiling is not None else limits.max_calls)
        self.pacing_misses.set(reading.miss_rate)
        self.input_backlog.set(reading.backlog_ms / 1000)

    def observe_cost(self, agent: str, cost: dict[str, Any]) -> None:
        """One call's cost per provider; cost per connected minute is the two counters' ratio."""
        for line in cost.get("lines") or []:
            if line.get("usd"):
                self.cost.labels(agent, line["provider"]).inc(line["usd"])
        self.connected.labels(agent).inc(float((cost.get("usage") or {}).get("connected_sec") or 0))

    def observe_call_path(self, agent: str, call: Any) -> None:
        """What a call's turn strategy and duck did (runner.calls.turns, runner.calls.duck)."""
        if call.preemptive is not None:
            self.preemptive.labels(agent, "played").inc(call.preemptive.confirmed)
            self.preemptive.labels(agent, "withdrawn").inc(call.preemptive.withdrawn)
        if call.duck is not None:
            self.pauses.labels(agent).inc(call.duck.holds)

    def observe_turn(self, agent: str, latency: dict[str, float | None]) -> None:
        """One turn's breakdown, as recorded on the call: production shows what the benchmark shows."""
        if latency.get("total_ms") is not None:
            self.turn_latency.labels(agent).observe(latency["total_ms"] / 1000)
        for key, stage in STAGES.items():
            value = latency.get(key)
            if value is not None and value >= 0:
                self.turn_stage.labels(agent, stage).observe(value / 1000)

    def render(self) -> bytes:
        return generate_latest(self.registry)
