"""A caller who pauses 500 ms mid-sentence is not answered in the pause, on the default turn settings.

The offline default stack end to end: a real runner, Whisper hearing the caller, Piper speaking, the
scripted LLM over real HTTP. The caller (cb.plugins.local.caller) says "My name is", 500 ms of
silence, then "Sarah Johnson." The VAD's 0.2 s silence ends a turn; the words so far stop on "is",
so the turn waits for more (runner/calls/turn_end.py). The proof is what the caller heard: no
answer to the fragment (the scripted LLM's "Sorry, I missed that."), nothing while it was still
speaking, then the answer to a turn that held the whole sentence. (That the LLM was never asked
about the fragment is no proof: preemptive generation may ask as soon as its words arrive, held
back and withdrawn when the caller goes on; on a quiet machine Whisper is fast enough for that.)
The wait switched off (`unfinished_stop_secs: 0`) is measured in `bench/run.py --sections cutoff`."""

from __future__ import annotations

import pytest

from cb.plugins.local.caller import Line
from cb.plugins.scripted.script import parse
from cb.plugins.scripted.server import ScriptedLLMServer

from .harness import call_once
from .test_call import words

pytestmark = pytest.mark.slow

AGENT = """\
apiVersion: cb/v1
kind: Agent
metadata: {{name: front-desk}}
spec:
  greeting: "Thanks for calling. Who am I speaking with?"
  instructions: You are the front desk.
  pipeline:
    llm: {{provider: openai, model: scripted, options: {{base_url: "{llm}"}}}}
    {turn}
  phone: {{silence_timeout_sec: 30, max_duration_sec: 120}}
---
apiVersion: cb/v1
kind: Number
metadata: {{name: main}}
spec: {{number: "+14155550100", provider: local, agent: front-desk}}
"""
SCRIPT = {"turns": [{"match": "(?i)(sarah|johnson)", "say": "Nice to meet you, Sarah."}],
          "default": "Sorry, I missed that."}
LINE = Line("My name is", then="Sarah Johnson.", gap_ms=500)


def asked(llm: ScriptedLLMServer) -> list[str]:
    """The caller's words in each request that asked the LLM for an answer to the caller."""
    out = []
    for request in llm.requests:
        if request["messages"][-1]["role"] == "user":
            out.append(words(request["messages"][-1]["content"]))
    return out


def call(tmp_path, turn: str):
    with ScriptedLLMServer(parse(SCRIPT)) as llm:
        _runner, result = call_once(tmp_path, AGENT.format(llm=llm.url, turn=turn), [LINE])
    return asked(llm), result


def cut_off(questions: list[str], result) -> list[str]:
    """How the call shows the caller was answered in the pause (empty: not at all)."""
    heard = " ".join(words(h.text) for h in result.transcript if h.role == "agent")
    signs = []
    if "missed that" in heard:
        signs.append("the fragment's answer was heard")
    if result.talked_over:
        signs.append(f"the agent spoke over the caller ({result.talked_over} frames)")
    if not questions or "my name is" not in questions[-1] or "sarah" not in questions[-1]:
        signs.append("the last turn answered was not the whole sentence")
    return signs


def test_a_500_ms_pause_mid_sentence_is_not_answered_under_the_default(tmp_path):
    questions, result = call(tmp_path, "")  # the default turn settings
    assert cut_off(questions, result) == [], (questions, result.transcript)
    heard = " ".join(words(h.text) for h in result.transcript if h.role == "agent")
    assert "nice to meet you" in heard, result.transcript
    assert result.response_ms, "the agent never answered the finished sentence"
