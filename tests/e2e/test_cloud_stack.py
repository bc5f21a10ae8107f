"""The cloud profile's plugins (Deepgram STT, Groq LLM, Cartesia TTS) on a real call, each
speaking its provider's protocol to a fake on 127.0.0.1: keys from the runner's environment."""

from __future__ import annotations

import pytest

from cb.plugins.local.caller import Line
from cb.runner.calls.records import open_records

from .cloud_fakes import FakeCartesia, FakeDeepgram
from .harness import call_once
from .test_call import words

pytestmark = pytest.mark.slow

AGENT = """\
apiVersion: cb/v1
kind: Agent
metadata: {{name: front-desk}}
spec:
  greeting: "Thanks for calling. How can I help?"
  instructions: You are the front desk.
  voice: test-voice-id
  pipeline:
    profile: cloud
    turn: {{vad_stop_secs: 0.3}}
    stt: {{provider: deepgram, model: nova-3, options: {{base_url: "{deepgram}", api_key: "${{env:DG_TEST_KEY}}"}}}}
    llm: {{provider: groq, model: llama-3.3-70b-versatile, options: {{base_url: "{llm}", api_key: "${{env:GROQ_TEST_KEY}}"}}}}
    tts: {{provider: cartesia, model: sonic-2, options: {{url: "{cartesia}", api_key: "${{env:CARTESIA_TEST_KEY}}"}}}}
  tools: [end_call]
---
apiVersion: cb/v1
kind: Number
metadata: {{name: main}}
spec: {{number: "+14155550100", agent: front-desk}}
"""


def test_a_call_on_the_cloud_plugins(tmp_path, llm):
    with FakeDeepgram() as deepgram, FakeCartesia() as cartesia:
        runner, result = call_once(
            tmp_path, AGENT.format(deepgram=deepgram.base_url, llm=llm.url, cartesia=cartesia.url),
            [Line("Hi I would like to book an appointment."), Line("No thank you goodbye.")],
            env={"DG_TEST_KEY": "dg-key", "GROQ_TEST_KEY": "groq-key", "CARTESIA_TEST_KEY": "cartesia-key"})
    heard = " ".join(words(h.text) for h in result.transcript if h.role == "agent")
    # the goodbye played: Whisper writes it "goodbye", "good bye" or "bye bye"
    assert "thanks for calling" in heard and "what day would you like" in heard and "bye" in heard
    rec = open_records(runner.state_dir).get(result.call_id)
    assert (rec.status, rec.end_reason) == ("completed", "end_call")
    said = " ".join(words(t["text"]) for t in rec.transcript if t["role"] == "caller")
    assert "book an appointment" in said
    # Each plugin spoke its provider's protocol, with the key from the runner's environment.
    dg = deepgram.requests[0]
    assert dg["path"] == "/v1/listen" and dg["headers"]["authorization"] == "Token dg-key"
    assert dg["query"]["model"] == "nova-3" and dg["query"]["encoding"] == "linear16" and dg["query"]["sample_rate"] == "8000"
    assert {"type": "Finalize"} in deepgram.messages
    assert cartesia.requests[0]["headers"]["x-api-key"] == "cartesia-key"
    first = next(m for m in cartesia.messages if m.get("transcript"))
    assert first["voice"] == {"mode": "id", "id": "test-voice-id"} and first["model_id"] == "sonic-2"
    assert first["output_format"] == {"container": "raw", "encoding": "pcm_s16le", "sample_rate": 8000}
    assert llm.requests and llm.requests[0]["model"] == "llama-3.3-70b-versatile"
