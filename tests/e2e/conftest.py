from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from cb.plugins.scripted.script import parse
from cb.plugins.scripted.server import ScriptedLLMServer

from .harness import Runner, start_runner, write_project

os.environ.setdefault("HF_HUB_OFFLINE", "1")

pytest.importorskip("faster_whisper", reason="the local stack: pip install 'cb[local]'")
pytest.importorskip("piper", reason="the local stack: pip install 'cb[local]'")

LONG_REPLY = ("We are open from eight in the morning until six in the evening on weekdays. "
              "On Saturdays we open at nine and close at one in the afternoon. "
              "We are closed on Sundays and on public holidays. "
              "Emergency appointments are available by calling our after hours line.")

SCRIPT = {
    "turns": [
        {"match": "(?i)bye", "say": "You're welcome. Goodbye!", "tool_calls": [{"name": "end_call"}]},
        # Whisper tiny under load has heard "opening now": match either word, not the phrase
        {"match": "(?i)opening|hours", "say": LONG_REPLY},
        {"match": "(?i)wait", "say": "Sure, go ahead."},
        {"say": "Of course. What day would you like to come in?"},
    ],
    "default": "Sorry, could you say that again?",
}


@pytest.fixture
def llm() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer(parse(SCRIPT)) as server:
        yield server


@pytest.fixture
def project(tmp_path: Path, llm: ScriptedLLMServer) -> Path:
    return write_project(tmp_path / "fleet", llm_url=llm.url)


@pytest.fixture
def runner(tmp_path: Path, project: Path) -> Iterator[Runner]:
    r = start_runner(project, tmp_path / "state")
    yield r
    r.stop()
