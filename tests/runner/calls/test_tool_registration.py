"""Tools reach pipecat's LLM service with the right interruption behaviour."""

from __future__ import annotations

from types import SimpleNamespace

from pipecat.services.openai.llm import OpenAILLMService

from cb.runner.calls.callplan import plan_call
from cb.runner.calls.pipeline import register_tools

from tests.support.fleet import commit_fleet


def test_http_tools_survive_barge_in_and_builtins_do_not(store, tmp_path):
    plan = plan_call(commit_fleet(store, tmp_path), to_number="+14155550100", from_number=None)
    llm = OpenAILLMService(api_key="unused", model="scripted", base_url="http://127.0.0.1:9/v1")
    register_tools(llm, plan, SimpleNamespace(tools=["book", "end_call"]))
    assert llm._functions["book"].cancel_on_interruption is False
    assert llm._functions["end_call"].cancel_on_interruption is True
