"""The internal do-not-call list: the ``do_not_call`` built-in, called by the LLM when the person on
the line asks not to be called again, puts the number (with the words) in the runner's table;
a call to it is refused at enqueue, and one already waiting is refused at dial time, whatever
the agent's policies (here none)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from cb.config.models import BUILTIN_TOOLS
from cb.runner.calls import hooks
from cb.runner.calls.toolcalls import SessionControl
from cb.runner.compliance.clock import FixedClock
from cb.runner.tools import ToolExecutor

from .test_dial_queue import dialer, req

CALLEE = "+12125550100"
WORDS = "Please take me off your list and don't call me again."


@pytest.fixture(autouse=True)
def keepers(monkeypatch):
    monkeypatch.setattr(hooks, "DO_NOT_CALL", [])


def plan(direction="outbound"):
    return SimpleNamespace(call_id="call_dnc1", agent="agent.a", direction=direction, to_number=CALLEE,
                           from_number="+14155550100")


def tool_call(control, args):
    executor = ToolExecutor.for_agent(["do_not_call", "end_call"], {}, say=lambda text: asyncio.sleep(0),
                                      control=control)
    return asyncio.run(executor.execute("do_not_call", args)), executor


def test_the_callee_who_asks_mid_call_is_never_dialled_again(tmp_path):
    assert "do_not_call" in BUILTIN_TOOLS
    clock, log = FixedClock(datetime(2026, 1, 12, 18, tzinfo=timezone.utc)), []
    d, _ = dialer((tmp_path / "state", None), clock, log, spec={})
    waiting = asyncio.run(d.submit_many([req(CALLEE)]))["queued"][0]  # queued before the ask

    control = SessionControl(end=None, call_sid=None, real_twilio=False)
    control.plan = plan()
    answer, executor = tool_call(control, {"words": WORDS})
    assert answer["ok"] and executor.records[0].status == "ok"
    assert d.queue.asked_not_to_call(CALLEE) == {"words": WORDS, "call_id": "call_dnc1", "agent": "agent.a",
                                                "at": clock.now()}

    body, status = asyncio.run(d.submit(req(CALLEE)))  # at enqueue
    assert status == 403 and body["compliance"][0] == {
        "rule": "do_not_call", "policy": "internal", "outcome": "refused", "detail": f'asked on call call_dnc1: "{WORDS}"'}
    asyncio.run(d.tick())  # at dial time: the entry queued before the ask
    assert d.queue.get(waiting).status == "refused" and d.queue.get(waiting).reason.startswith("do_not_call (internal)")
    assert log == []
    assert asyncio.run(d.submit(req("+12125550101")))[1] == 201  # anyone else is still called
    asyncio.run(d.stop())


def test_an_inbound_caller_is_listed_by_their_number_and_a_list_nobody_keeps_fails_the_tool(tmp_path):
    control = SessionControl(end=None, call_sid=None, real_twilio=False)
    control.plan = plan("inbound")
    answer, executor = tool_call(control, {"words": WORDS})
    assert not answer["ok"] and "keeps no do-not-call list" in executor.records[0].error  # nothing registered
    answer, _ = tool_call(control, {})
    assert not answer["ok"] and "words" in answer["error"]  # the words are required

    clock = FixedClock(datetime(2026, 1, 12, 18, tzinfo=timezone.utc))
    d, _ = dialer((tmp_path / "state", None), clock, [], spec={})
    answer, _ = tool_call(control, {"words": "stop calling me"})
    assert answer["ok"] and d.queue.asked_not_to_call("+14155550100")["words"] == "stop calling me"
    asyncio.run(d.stop())
