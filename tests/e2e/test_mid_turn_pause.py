"""A caller who pauses 500 ms mid-sentence is not answered in the pause, on the default turn settings.

The offline default stack end to end: a real runner, Whisper hearing the caller, Piper speaking, the
scripted LLM over real HTTP. The caller (cb.plugins.local.caller) says "My name is", 500 ms of
silence, then "Sarah Johnson." The VAD's 0.2 s silence ends a turn; the words so far stop on "is",
so the turn waits for more (runner/calls/turn_end.py). The proof is what the LLM was asked (never
the fragment alone) and what the caller heard (nothing while it was still speaking, then an
answer). The same call with the wait switched off (``unfinished_stop_secs: 0``) is answered in the
pause, which shows the test sees a cut-off when there is one. Rates over many lines and pauses:
`bench/run.py --sections cutoff`.
"""

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


def test_a_500_ms_pause_mid_sentence_is_not_answered_under_the_default(tmp_path):
    questions, result = call(tmp_path, "")  # the default turn settings
    # The LLM was asked about the whole sentence, never about "my name is" alone.
    assert questions and all("sarah" in q or "johnson" in q for q in questions), questions
    assert result.talked_over == 0, f"the agent spoke over the caller ({result.talked_over} frames)"
    heard = " ".join(words(h.text) for h in result.transcript if h.role == "agent")
    assert "nice to meet you" in heard, result.transcript
    assert result.response_ms, "the agent never answered the finished sentence"


def test_with_the_wait_off_the_vad_answers_in_the_pause(tmp_path):
    questions, _result = call(tmp_path, "turn: {unfinished_stop_secs: 0}")
    # The VAD's 0.2 s ended the turn in the 500 ms pause: the LLM was asked about the fragment.
    assert any(q.startswith("my name is") and "sarah" not in q and "johnson" not in q for q in questions), questions
