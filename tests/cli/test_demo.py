"""Issue 18.4: `cb demo` says what the bundled model can and cannot do, shows the one-line change to
a real LLM, and `cb demo --llm URL` runs the demo against any OpenAI-compatible server (here the
scripted server stands in for Ollama, vLLM or llama.cpp's server)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cb.cli import cli
from cb.cli import demo
from cb.config.project import load_project
from cb.plugins.scripted.script import load
from cb.plugins.scripted.server import ScriptedLLMServer

ROOT = Path(__file__).resolve().parents[2]


def test_help_teaches_the_llm_choices_and_the_one_line_change():
    out = CliRunner().invoke(cli, ["demo", "--help"]).output
    assert "auto|local|scripted|URL" in out and "OpenAI-compatible" in out and "--llm-model" in out
    assert "far too small" in out and "llm: {provider: groq, model: llama-3.3-70b-versatile}" in out


def test_an_llm_that_is_neither_a_choice_nor_a_url_is_a_usage_error():
    res = CliRunner().invoke(cli, ["demo", "--llm", "gpt"])
    assert res.exit_code == 2 and "OpenAI-compatible server's URL" in res.output


def test_the_project_copy_points_front_desk_at_the_server_and_still_validates():
    before = (ROOT / "agents" / "front-desk.yaml").read_text()
    copy = demo.with_llm(ROOT, "http://127.0.0.1:9/v1", "qwen2.5:7b")
    try:
        agent = next(d for d in yaml.safe_load_all((copy / "agents" / "front-desk.yaml").read_text())
                     if d["kind"] == "Agent")
        assert agent["spec"]["pipeline"]["llm"] == {"provider": "openai", "model": "qwen2.5:7b",
                                                    "options": {"base_url": "http://127.0.0.1:9/v1"}}
        _, diags = load_project(None, cwd=copy)
        assert not [d for d in diags if d.severity == "error"], diags
    finally:
        import shutil

        shutil.rmtree(copy)
    assert (ROOT / "agents" / "front-desk.yaml").read_text() == before


@pytest.mark.slow
def test_the_demo_runs_against_any_openai_compatible_server():
    lines: list[str] = []
    with ScriptedLLMServer(load(ROOT / "plugins" / "scripted" / "front_desk_demo.yaml")) as server:
        assert demo.run(ROOT, lines.append, server.url) == 0
    out = "\n".join(lines)
    assert f"answers with scripted at {server.url}" in out  # the model the server lists at /models
    assert server.requests and all(r.get("model") == "scripted" for r in server.requests)
    assert "status completed" in out and "Goodbye" in out, out
