"""What one run of a scenario produced, and how each assertion judged it.

A run is one simulated call; a scenario result holds every repeat (``--repeat N``) and, with
``--baseline``, the runs of the same scenario against the live revision. A scenario passes only
if every repeat passed: a pass rate below 100% is a failure, never a pass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Check:
    """One assertion's verdict: ``what`` it asserts, whether it held, and what was seen instead."""

    what: str
    passed: bool
    detail: str = ""


@dataclass
class Run:
    transcript: list[dict[str, str]] = field(default_factory=list)  # {speaker: agent|caller, text}
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # name, arguments, ok, status, result, error
    returns: dict[str, Any] | None = None
    returns_error: str | None = None
    ended_call: bool = False
    turns: int = 0  # caller turns the call took
    latencies_ms: list[float] | None = None  # per agent turn, from the call record (audio mode only)
    verdicts: dict[int, "Check"] = field(default_factory=dict)  # expect index -> the LLM judge's verdict
    seconds: float = 0.0
    error: str | None = None  # the run could not be made (LLM unreachable, ...): a failure
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.error is None and bool(self.checks) and all(c.passed for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


@dataclass
class ScenarioResult:
    name: str
    file: str
    agent: str
    runs: list[Run] = field(default_factory=list)
    baseline: list[Run] | None = None  # the same scenario against the live revision
    baseline_note: str | None = None  # why there is no baseline (agent not live yet, ...)

    @staticmethod
    def _rate(runs: list[Run]) -> float:
        return sum(r.passed for r in runs) / len(runs) if runs else 0.0

    @property
    def pass_rate(self) -> float:
        return self._rate(self.runs)

    @property
    def passed(self) -> bool:
        return bool(self.runs) and all(r.passed for r in self.runs)

    @property
    def baseline_passed(self) -> bool | None:
        return None if not self.baseline else all(r.passed for r in self.baseline)

    @property
    def verdict(self) -> str:
        """passed | failed, or with a baseline: regression | fixed | still failing | passing | new."""
        before = self.baseline_passed
        if before is None:
            return ("passed" if self.passed else "failed") if self.baseline_note is None else \
                ("new, passed" if self.passed else "new, failed")
        if before and not self.passed:
            return "regression"
        if not before and self.passed:
            return "fixed"
        return "passing" if self.passed else "still failing"

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "file": self.file, "agent": self.agent, "passed": self.passed,
               "pass_rate": round(self.pass_rate, 4), "verdict": self.verdict,
               "runs": [r.to_dict() for r in self.runs]}
        if self.baseline is not None or self.baseline_note is not None:
            out["baseline"] = {"passed": self.baseline_passed,
                               "pass_rate": round(self._rate(self.baseline or []), 4),
                               "note": self.baseline_note, "runs": [r.to_dict() for r in self.baseline or []]}
        return out
