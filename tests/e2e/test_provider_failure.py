"""Issue 18.6: when a provider fails the caller hears a short apology and a clean hang-up, and the
reason is in the call record. Real runner, real call; the LLM is the scripted server made to fail
as a cloud LLM does (429, a socket dropped mid-answer), or a provider whose key is missing."""

from __future__ import annotations

import pytest

from cb.plugins.local.caller import Line
from cb.plugins.scripted.script import parse
from cb.plugins.scripted.server import ScriptedLLMServer
from cb.runner.calls.records import open_records

from .harness import start_runner, write_project
from .test_call import place, words

pytestmark = pytest.mark.slow


def apologised(result) -> bool:
    heard = " ".join(words(h.text) for h in result.transcript if h.role == "agent")
    return "technical trouble" in heard or "call back later" in heard


@pytest.mark.parametrize("fail", [{"status": 429}, {"drop": True}], ids=["429", "dropped-socket"])
def test_an_llm_failing_mid_call_is_an_apology_and_a_hang_up(runner, project, fail):
    with ScriptedLLMServer(parse({"turns": ["Sure."], "fail": {"on": "chat", **fail}})) as broken:
        write_project(project, llm_url=broken.url)
        code, out = runner.apply(project)
        assert code == 0, out
        result = place(runner, [Line("Hi, I would like to book an appointment.")], hangup_after_secs=40)
    assert result.ended_by == "agent", result.transcript
    assert apologised(result), result.transcript
    record = open_records(runner.state_dir).get(result.call_id)
    assert (record.status, record.end_reason) == ("failed", "error")
    assert "llm provider" in record.error and "failed" in record.error


def test_a_pipeline_that_cannot_be_built_still_apologises(tmp_path, project):
    write_project(project, llm_url="https://llm.invalid/v1")  # a cloud endpoint: it needs its key
    agent = project / "agents" / "front-desk.yaml"
    agent.write_text(agent.read_text().replace("options: {base_url:",
                                               'options: {api_key: "${env:CB_TEST_UNSET_KEY}", base_url:'))
    # cb apply refuses an agent whose key the runner lacks, so the key is there when it is applied
    # and gone when the runner restarts: the pipeline can then not be built for the call.
    with_key = start_runner(project, tmp_path / "state", env={"CB_TEST_UNSET_KEY": "set-at-apply"})
    try:
        code, out = with_key.apply(project)
        assert code == 0, out
    finally:
        with_key.stop()
    runner = start_runner(project, tmp_path / "state", ready=False)
    try:
        ready = wait_for_health(runner)
        assert ready.status_code == 503 and "agent.front-desk" in ready.text  # /readyz names it
        result = place(runner, [], hangup_after_secs=30)
    finally:
        runner.stop()
    assert result.ended_by == "agent", result.transcript
    assert apologised(result), result.transcript
    record = open_records(runner.state_dir).get(result.call_id)
    assert (record.status, record.end_reason) == ("failed", "error")
    assert "CB_TEST_UNSET_KEY" in record.error


def wait_for_health(runner, timeout: float = 90.0):
    """/readyz once the runner has warmed up: it will not say ready, as its only agent lacks its key."""
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ready = httpx.get(runner.url + "/readyz", timeout=1)
            if "starting" not in ready.text:
                return ready
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"runner never finished starting: {runner.log.read_text()}")


FALLBACK_SCRIPT = {"turns": ["Sure. What day would you like?",
                             {"match": "(?i)bye", "say": "Goodbye!", "tool_calls": [{"name": "end_call"}]}]}


@pytest.mark.parametrize("fail", [{"status": 429}, {"status": 503}, {"drop": True}],
                         ids=["429", "503", "dropped-socket"])
def test_a_declared_fallback_llm_takes_over_mid_call(runner, project, fail):
    """The primary LLM fails on the caller's first turn; the fallback answers that turn and the
    rest of the call, which completes, and the record says the fallback took over."""
    with ScriptedLLMServer(parse({"turns": ["Sure."], "fail": {"on": "chat", **fail}})) as broken, \
            ScriptedLLMServer(parse(FALLBACK_SCRIPT)) as backup:
        write_project(project, llm_url=broken.url)
        agent = project / "agents" / "front-desk.yaml"
        agent.write_text(agent.read_text().replace(
            f'options: {{base_url: "{broken.url}"}}}}',
            f'options: {{base_url: "{broken.url}"}}, fallback: {{provider: openai, model: scripted, '
            f'options: {{base_url: "{backup.url}"}}}}}}'))
        assert "fallback" in agent.read_text()
        code, out = runner.apply(project)
        assert code == 0, out
        result = place(runner, [Line("Hi, I would like to book an appointment."), Line("No thank you, goodbye.")],
                       hangup_after_secs=40)
    heard = " ".join(words(h.text) for h in result.transcript if h.role == "agent")
    assert "would you like" in heard and not apologised(result), result.transcript  # Whisper: "what they"
    assert result.ended_by == "agent", result.transcript
    record = open_records(runner.state_dir).get(result.call_id)
    assert (record.status, record.end_reason, record.error) == ("completed", "end_call", None)
    assert record.fallbacks and record.fallbacks[0].startswith("llm: openai failed"), record.fallbacks
    assert "took over" in record.fallbacks[0]
