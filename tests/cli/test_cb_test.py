"""cb test on the repository's own scenarios (what CI runs through pytest) and on small projects:
reports in every format, pass rates, and the exit codes (0 passed, 1 any failing run, 2 usage)."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from click.testing import CliRunner

from cb.cli import cli

ROOT = Path(__file__).resolve().parents[2]
PROJECTS = [ROOT, *(ROOT / "examples" / e for e in ("after-hours", "lead-qualification", "payment-reminder"))]


def cb_test(folder: Path, monkeypatch, *args: str) -> tuple[int, str]:
    monkeypatch.chdir(folder)
    res = CliRunner().invoke(cli, ["test", *args])
    return res.exit_code, res.stdout + (res.stderr if res.stderr_bytes is not None else "")


@pytest.mark.parametrize("folder", PROJECTS, ids=lambda p: p.name)
def test_the_repositorys_scenarios_pass_on_the_scripted_llm(folder, monkeypatch):
    code, out = cb_test(folder, monkeypatch)
    assert code == 0, out
    assert "scenario(s) passed." in out and " 0 of " not in out


def fleet(tmp_path: Path) -> Path:
    root = tmp_path / "fleet"
    shutil.copytree(ROOT / "agents", root / "agents")
    shutil.copytree(ROOT / "scenarios", root / "scenarios")
    shutil.copy(ROOT / "cb.yaml", root / "cb.yaml")
    return root


def test_a_prompt_that_no_longer_asks_for_bookings_fails_the_booking_scenario(tmp_path, monkeypatch):
    root = fleet(tmp_path)
    agent = root / "agents" / "front-desk.yaml"
    agent.write_text(agent.read_text().replace(
        "and book appointments with the book_appointment tool.", "and take a message for the staff."))
    code, out = cb_test(root, monkeypatch)
    assert code == 1, out
    assert "FAIL front-desk-books" in out
    assert "calls book_appointment with" in out and "book_appointment was never called" in out
    assert "agent: Sorry, could you say that again?" in out  # what the model did instead


def test_reports_in_json_junit_and_markdown(tmp_path, monkeypatch):
    root = fleet(tmp_path)
    code, out = cb_test(root, monkeypatch, "--format", "json", "--repeat", "2")
    assert code == 0
    report = json.loads(out)
    assert report["passed"] is True
    books = next(s for s in report["scenarios"] if s["name"] == "front-desk-books")
    assert books["pass_rate"] == 1.0 and len(books["runs"]) == 2
    run = books["runs"][0]
    assert run["tool_calls"][0]["arguments"] == {"slot": "2026-12-01T10:00:00-08:00", "caller_name": "Jane Doe"}
    assert run["returns"] == {"intent": "booking", "appointment_at": "2026-12-01T10:00:00-08:00", "caller_name": "Jane Doe"}
    assert run["transcript"][0]["text"].startswith("Thanks for calling Acme Dental")  # the rendered greeting

    assert cb_test(root, monkeypatch, "--format", "junit", "--out", "report.xml")[0] == 0
    suite = ET.parse(root / "report.xml").getroot()
    assert suite.get("tests") == "2" and suite.get("failures") == "0"
    assert {c.get("name") for c in suite.iter("testcase")} == {"front-desk-books", "front-desk-booking-down"}

    code, out = cb_test(root, monkeypatch, "--format", "markdown")
    assert code == 0 and "| `front-desk-books` | `front-desk` | 1/1 | ✅ passed |" in out


def _one_scenario(root: Path, options: dict, expect: str = "    - says: hello\n") -> None:
    (root / "scenarios" / "front-desk").mkdir(parents=True, exist_ok=True)
    for f in (root / "scenarios" / "front-desk").iterdir():
        f.unlink()
    (root / "scenarios" / "front-desk" / "one.yaml").write_text(
        "apiVersion: cb/v1\nkind: Scenario\nmetadata: {name: one}\nspec:\n  agent: front-desk\n"
        f"  caller: {{lines: [hi]}}\n  llm: {{provider: scripted, options: {json.dumps(options)}}}\n"
        f"  expect:\n{expect}")


def test_any_failing_repeat_fails_the_run_and_the_pass_rate_says_so(tmp_path, monkeypatch):
    root = fleet(tmp_path)
    # the scripted LLM answers once, then fails like a broken provider
    _one_scenario(root, {"turns": ["hello"], "default": uuid.uuid4().hex,
                         "fail": {"on": "chat", "after": 1, "status": 400}})
    code, out = cb_test(root, monkeypatch, "--repeat", "2", "--format", "json")
    assert code == 1
    scenario = json.loads(out)["scenarios"][0]
    assert scenario["pass_rate"] == 0.5 and scenario["passed"] is False
    assert scenario["runs"][0]["passed"] and "BadRequestError" in scenario["runs"][1]["error"]


def test_usage_errors_exit_2(tmp_path, monkeypatch):
    root = fleet(tmp_path)
    _one_scenario(root, {"turns": ["hello"]}, expect="    []\n")
    code, out = cb_test(root, monkeypatch)
    assert code == 2 and "a scenario needs at least one assertion" in out  # asserting nothing is no pass
    shutil.rmtree(root / "scenarios")
    (root / "scenarios").mkdir()
    code, out = cb_test(root, monkeypatch)
    assert code == 2 and "no scenarios found" in out
    assert cb_test(root, monkeypatch, "--repeat", "0")[0] == 2


BOOKS_TURNS = {"turns": [
    {"match": "(?i)\\bbye\\b", "say": "Goodbye!", "tool_calls": [{"name": "end_call", "arguments": {}}]},
    {"say": "Of course. What day and time, and your name?"},
    {"say": "", "tool_calls": [{"name": "book_appointment", "arguments": {"slot": "2026-12-01T10:00:00-08:00",
                                                                        "caller_name": "Jane Doe"}}],
     "after_tool": "You're booked for Tuesday at ten."}],
    "returns": [{"intent": "booking", "appointment_at": "2026-12-01T10:00:00-08:00", "caller_name": "Jane Doe"}]}


def _judged(root: Path, judge_url: str) -> None:
    _one_scenario(root, BOOKS_TURNS, expect=(
        "    - judge:\n        rubric: The agent confirms the booking and never asks for a credit card.\n"
        f"        llm: {{provider: openai, model: judge, options: {{base_url: '{judge_url}'}}}}\n"))
    path = root / "scenarios" / "front-desk" / "one.yaml"
    path.write_text(path.read_text().replace("caller: {lines: [hi]}",
                                             "caller: {lines: [hi, 'Tuesday at ten, Jane Doe']}"))


@pytest.mark.parametrize("answer,code", [
    ({"returns": [{"verdict": "pass", "reasoning": "It said 'You're booked' and asked for no card."}]}, 0),
    ({"returns": [{"verdict": "fail", "reasoning": "It asked for a card number."}]}, 1),
    ({"returns": [{"verdict": "maybe"}, {"reasoning": "still no verdict"}]}, 1),  # a judge failure is no pass
    ({"fail": {"on": "structured", "status": 400}}, 1),
])
def test_a_rubric_is_judged_by_an_llm_with_its_reasoning_in_the_report(tmp_path, monkeypatch, answer, code):
    from cb.plugins.scripted.script import parse
    from cb.plugins.scripted.server import ScriptedLLMServer

    root = fleet(tmp_path)
    with ScriptedLLMServer(parse({"turns": [], **answer})) as judge:
        _judged(root, judge.url)
        got, out = cb_test(root, monkeypatch, "--format", "json")
        text = cb_test(root, monkeypatch)[1]
    assert got == code, out
    [check] = json.loads(out)["scenarios"][0]["runs"][0]["checks"]
    assert check["what"].startswith("judged by judge: The agent confirms the booking")
    if code == 0:
        assert check["passed"] and check["detail"] == "pass: It said 'You're booked' and asked for no card."
        assert "  - judged by judge: The agent confirms the booking and never asks for a credit card.: pass: It said" in text
    elif "returns" in answer and answer["returns"][0].get("verdict") == "fail":
        assert check["detail"] == "fail: It asked for a card number." and "fail: It asked for a card number." in text
    else:
        assert not check["passed"] and check["detail"].startswith("the judge failed, so this is not a pass: "), check


def test_a_persona_with_a_goal_plays_the_caller(tmp_path, monkeypatch):
    root = fleet(tmp_path)
    persona = {"turns": [{"say": "Hi, I'd like to book a cleaning."},
                         {"say": "Tuesday at ten, please. I'm Jane Doe."},
                         {"say": "Great, bye!", "tool_calls": [{"name": "hang_up", "arguments": {}}]},
                         {"say": "I should have hung up already."}]}
    _one_scenario(root, BOOKS_TURNS, expect="    - tool_called: {name: book_appointment}\n"
                  "    - ended_call: true\n    - max_turns: 3\n")
    path = root / "scenarios" / "front-desk" / "one.yaml"
    path.write_text(path.read_text().replace(
        "caller: {lines: [hi]}", "caller:\n    persona: Jane Doe, a patient who is short on time.\n"
        "    goal: Book a cleaning on Tuesday at ten.\n    max_turns: 5\n"
        f"    llm: {{provider: scripted, options: {json.dumps(persona)}}}"))
    code, out = cb_test(root, monkeypatch, "--format", "json")
    assert code == 0, out
    run = json.loads(out)["scenarios"][0]["runs"][0]
    assert [t["text"] for t in run["transcript"] if t["speaker"] == "caller"] == [
        "Hi, I'd like to book a cleaning.", "Tuesday at ten, please. I'm Jane Doe.", "Great, bye!"]
    assert run["tool_calls"][0]["name"] == "book_appointment" and run["ended_call"]


def test_a_persona_stops_at_max_turns_and_a_caller_is_lines_or_a_persona(tmp_path, monkeypatch):
    root = fleet(tmp_path)
    chatty = {"turns": [], "default": "Hello?"}
    _one_scenario(root, {"turns": [], "default": "Pardon?"}, expect="    - max_turns: 2\n")
    path = root / "scenarios" / "front-desk" / "one.yaml"
    body = path.read_text()
    path.write_text(body.replace("caller: {lines: [hi]}", "caller: {persona: a caller, goal: nothing much, "
                                 f"max_turns: 2, llm: {{provider: scripted, options: {json.dumps(chatty)}}}}}"))
    code, out = cb_test(root, monkeypatch)
    assert code == 0, out
    path.write_text(body.replace("caller: {lines: [hi]}", "caller: {lines: [hi], persona: x, goal: y}"))
    code, out = cb_test(root, monkeypatch)
    assert code == 2 and "the caller has either lines or a persona" in out
    path.write_text(body.replace("caller: {lines: [hi]}", "caller: {persona: x}"))
    code, out = cb_test(root, monkeypatch)
    assert code == 2 and "a persona needs a goal" in out


def test_text_mode_refuses_a_latency_budget_rather_than_skip_it(tmp_path, monkeypatch):
    root = fleet(tmp_path)
    _one_scenario(root, {"turns": ["hello"]}, expect="    - says: hello\n    - latency: {max_ms: 800}\n")
    code, out = cb_test(root, monkeypatch)
    assert code == 2, out
    assert "scenarios/front-desk/one.yaml:10:16: error[CB102] scenario.one: expect.1.latency: per-turn latency is " \
           "measured on audio calls only" in out
    assert "run `cb test --audio`" in out and "nothing was run" in out


def test_audio_mode_refuses_a_persona_caller(tmp_path, monkeypatch):
    root = fleet(tmp_path)
    _one_scenario(root, {"turns": ["hello"]})
    path = root / "scenarios" / "front-desk" / "one.yaml"
    path.write_text(path.read_text().replace("caller: {lines: [hi]}", "caller: {persona: x, goal: y}"))
    code, out = cb_test(root, monkeypatch, "--audio")
    assert code == 2 and "caller.persona: a persona plays the caller in text mode only" in out
