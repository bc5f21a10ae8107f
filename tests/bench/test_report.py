"""The report's plumbing: Prometheus parsing and the table, on hand-made inputs."""

from __future__ import annotations

from bench import table
from bench.turns import check, stage_means

METRICS = """\
# HELP cb_turn_stage_seconds One part of a turn's latency
cb_turn_stage_seconds_bucket{agent="agent.bench",le="0.005",stage="llm_first_token"} 0.0
cb_turn_stage_seconds_sum{agent="agent.bench",stage="llm_first_token"} 0.3
cb_turn_stage_seconds_count{agent="agent.bench",stage="llm_first_token"} 2.0
cb_turn_latency_seconds_sum{agent="agent.bench"} 1.0
cb_turn_latency_seconds_count{agent="agent.bench"} 2.0
"""


def test_stage_means_reads_the_runner_histograms():
    assert stage_means(METRICS) == {"llm_first_token": {"count": 2, "mean_ms": 150.0},
                                    "total": {"count": 2, "mean_ms": 500.0}}


def test_targets_are_checked_against_the_named_statistic():
    result = {"total_ms": {"median": 440.0, "p95": 610.0}}
    got = check(result, {"total_ms.median": 450.0, "total_ms.p95": 600.0})
    assert got["total_ms.median"]["met"] and not got["total_ms.p95"]["met"]


def test_the_table_names_every_section_and_its_verdict():
    stat = {"n": 3, "median": 10.0, "p95": 12.0, "p99": 12.0, "min": 9.0, "max": 12.5}
    report = {
        "turns": {"a": {"total_ms": stat, "endpointing_ms": stat, "orchestration_ms": stat,
                        "targets": {"orchestration_ms.median": {"limit": 30, "value": 10.0, "met": True}}}},
        "concurrency": {"single_call_p95_ms": 12.0, "max_calls_held": 10, "met": False, "cpu_pct_per_call": 2.5,
                        "projected_calls_per_core_at_80pct": 32,
                        "steps": [{"calls": 1, "total_ms": stat, "jitter_ms": stat, "runner_cpu_pct": 5.0,
                                   "runner_cpu_pct_per_call": 5.0, "caller_cpu_pct": 3.0,
                                   "runner_loop_lag_ms": stat, "failed_calls": 0,
                                   "judged": {"passed": True, "why": []}}]},
        "machine_before": {"cpus": 2, "loadavg": [1.0, 1.0, 1.0]}, "machine_after": {"loadavg": [1.0, 1.0, 1.0]},
    }
    text = table.render(report)
    assert "orchestration" in text and "met" in text
    assert "largest N held" in text and "MISSED" in text and "projection" in text
    assert "load average" in text
