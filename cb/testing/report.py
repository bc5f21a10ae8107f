"""``cb test``'s reports: text for people, JSON for tools, JUnit XML for CI systems, markdown for
the pull request (alone, or under the plan in ``cb review``'s comment, kept under GitHub's limit).

Every format says the same: each scenario's verdict and pass rate, and for each failure which
assertion failed and what was seen instead.
"""

from __future__ import annotations

import json
from typing import Iterable
from xml.etree import ElementTree as ET

from .outcome import Run, ScenarioResult

#: GitHub refuses comments over 65,536 characters; the comment stays under this.
COMMENT_LIMIT = 65_000
#: How a judge's check names itself (cb.runner.testing.judge): its reasoning is always reported.
JUDGED = "judged by "


def _rate(r: ScenarioResult) -> str:
    return f"{sum(x.passed for x in r.runs)}/{len(r.runs)}"


def _failures(run: Run) -> list[str]:
    if run.error:
        return [f"could not run: {run.error}"]
    return [f"{c.what}: {c.detail}" for c in run.checks if not c.passed]


def _first_failing(runs: list[Run]) -> Run | None:
    return next((r for r in runs if not r.passed), None)


def summary(results: list[ScenarioResult]) -> str:
    failed = sum(not r.passed for r in results)
    regressions = sum(r.verdict == "regression" for r in results)
    text = f"{len(results) - failed} of {len(results)} scenario(s) passed"
    return text + (f", {regressions} regression(s)" if regressions else "") + "."


def render_text(results: list[ScenarioResult]) -> str:
    lines = []
    for r in results:
        mark = "PASS" if r.passed else "FAIL"
        extra = f" [{r.verdict}]" if r.baseline is not None or r.baseline_note else ""
        lines.append(f"{mark} {r.name} ({r.agent}, {r.file}) {_rate(r)} runs passed{extra}")
        run = _first_failing(r.runs)
        if run is None and r.runs:  # a judge's verdict and reasoning are shown when it passes too
            lines += [f"  - {c.what}: {c.detail}" for c in r.runs[0].checks if c.what.startswith(JUDGED)]
        if run is not None:
            lines += [f"  - {f}" for f in _failures(run)]
            said = [f"{t['speaker']}: {t['text']}" for t in run.transcript]
            lines += ["  transcript:"] + [f"    {s}" for s in said[-8:]]
    lines.append(summary(results))
    return "\n".join(lines)


def render_json(results: list[ScenarioResult]) -> str:
    return json.dumps({"passed": all(r.passed for r in results), "summary": summary(results),
                       "scenarios": [r.to_dict() for r in results]}, indent=2, default=str)


def render_junit(results: list[ScenarioResult]) -> str:
    """One testsuite; one testcase per scenario and repeat, so CI shows flaky ones as such."""
    suite = ET.Element("testsuite", name="cb test", tests=str(sum(len(r.runs) for r in results)),
                       failures=str(sum(not run.passed and not run.error for r in results for run in r.runs)),
                       errors=str(sum(bool(run.error) for r in results for run in r.runs)),
                       time=f"{sum(run.seconds for r in results for run in r.runs):.3f}")
    for r in results:
        for i, run in enumerate(r.runs, 1):
            name = r.name if len(r.runs) == 1 else f"{r.name} [{i}/{len(r.runs)}]"
            case = ET.SubElement(suite, "testcase", classname=f"agent.{r.agent}", name=name, file=r.file,
                                 time=f"{run.seconds:.3f}")
            if run.error:
                ET.SubElement(case, "error", message=run.error[:200]).text = run.error
            elif not run.passed:
                failures = _failures(run)
                ET.SubElement(case, "failure", message=failures[0][:200]).text = "\n".join(failures)
            ET.SubElement(case, "system-out").text = "\n".join(f"{t['speaker']}: {t['text']}" for t in run.transcript)
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _before(r: ScenarioResult) -> str:
    if r.baseline is None:
        return r.baseline_note or "–"
    return f"{'✅' if r.baseline_passed else '❌'} {sum(x.passed for x in r.baseline)}/{len(r.baseline)}"


VERDICT_MARK = {"regression": "🔴 regression", "fixed": "🟢 fixed", "still failing": "❌ still failing",
                "passing": "✅ passing", "passed": "✅ passed", "failed": "❌ failed",
                "new, passed": "🆕 passed", "new, failed": "🆕 failed"}


def render_markdown(results: list[ScenarioResult], budget: int = COMMENT_LIMIT) -> str:
    """The before/after table and, for each failure, why; details are dropped before the table is."""
    with_baseline = any(r.baseline is not None or r.baseline_note for r in results)
    head = ["## Agent tests", "", f"**{summary(results)}**", ""]
    if with_baseline:
        head += ["| scenario | agent | before (live) | after (this change) | verdict |", "|---|---|---|---|---|"]
        rows = [f"| `{_cell(r.name)}` | `{r.agent}` | {_cell(_before(r))} | "
                f"{'✅' if r.passed else '❌'} {_rate(r)} | {VERDICT_MARK[r.verdict]} |" for r in results]
    else:
        head += ["| scenario | agent | passed | verdict |", "|---|---|---|---|"]
        rows = [f"| `{_cell(r.name)}` | `{r.agent}` | {_rate(r)} | {VERDICT_MARK[r.verdict]} |" for r in results]
    details = []
    for r in results:
        run = _first_failing(r.runs)
        if run is None:
            continue
        body = [f"<details><summary><code>{r.name}</code>: {len(_failures(run))} failed assertion(s)</summary>", ""]
        body += [f"- {_cell(f)}" for f in _failures(run)]
        body += ["", "```text", *(f"{t['speaker']}: {t['text']}" for t in run.transcript[-12:]), "```", "</details>", ""]
        details.append("\n".join(body))
    out = "\n".join(head + rows) + "\n"
    if len(out) > budget:  # the table alone is too long: cut rows, say how many
        kept = []
        for row in rows:
            if len("\n".join(head + kept + [row])) + 200 > budget:
                break
            kept.append(row)
        return "\n".join(head + kept) + f"\n\n… {len(rows) - len(kept)} more scenario(s): see the JSON report.\n"
    for d in details:
        if len(out) + len(d) + 100 > budget:
            out += "\n… more failure details are in the JSON report.\n"
            break
        out += "\n" + d
    return out


def render(results: list[ScenarioResult], fmt: str) -> str:
    return {"text": render_text, "json": render_json, "junit": render_junit, "markdown": render_markdown}[fmt](results)


def all_passed(results: Iterable[ScenarioResult]) -> bool:
    return all(r.passed for r in results)
