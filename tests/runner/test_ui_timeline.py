"""Issue 19, the call page's view model: tool calls placed to the millisecond from the call's start
on the observer's clock, barge-ins told from backchannels, the call's carrier and status events,
each webhook attempt with its time and answer, and the revision that answered marked in its
address's history."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

from cb.runner.calls.records import CallRecord, CallRecords
from cb.runner.postcall import outcomes
from cb.runner.tools import ToolExecutor
from cb.runner.ui import history, listing
from cb.runner.webhooks import Outbox
from cb.runner.webhooks.outbox import connect

from tests.support.fleet import store  # noqa: F401  (fixture)


def _record(records: CallRecords, call_id: str = "call_t", status: str = "ringing") -> None:
    records.create(CallRecord(id=call_id, agent="agent.front-desk", agent_revision="abc", state_serial=2,
                              direction="inbound", from_number="+15550001111", to_number="+14155550100",
                              status=status))


def test_a_tool_call_is_placed_by_the_observers_offset_not_the_wall_clock():
    """The media started 0.8 s after the recording did (the pipeline was being built): the wall
    clock puts the tool 0.8 s late; the offset on the call's monotonic clock does not."""
    started = "2026-11-30T10:00:00.000+00:00"
    wall = datetime.fromisoformat(started).timestamp() + 3.0
    call = {"started_at": started, "tool_calls": [{"name": "book", "ok": True, "status": "ok", "latency_ms": 412.0,
                                                   "started_at": wall, "at_ms": 3812.4}]}
    [span] = listing.tool_spans(call)
    assert (span["start"], span["end"]) == (3.812, 4.224)
    old = {**call, "tool_calls": [{**call["tool_calls"][0], "at_ms": None}]}  # a record from before at_ms
    assert listing.tool_spans(old)[0]["start"] == 3.0


def test_the_executor_counts_each_tool_call_from_the_calls_start():
    async def say(_text: str) -> None:
        pass

    executor = ToolExecutor(tools={}, say=say, origin=time.monotonic() - 2.5)
    asyncio.run(executor.execute("missing", {}))
    [record] = executor.records
    assert 2500 <= record.at_ms < 3500, record.at_ms
    assert ToolExecutor(tools={}, say=say).origin is None  # outside a call: no offset to count from


def test_caller_speech_over_the_agent_is_a_barge_in_or_a_backchannel():
    turns = [{"speaker": "agent", "start": 0.5, "end": 4.0, "text": "Hello, how can I help?"},
             {"speaker": "caller", "start": 2.0, "end": 2.4, "text": "mm-hm"},
             {"speaker": "caller", "start": 4.5, "end": 6.0, "text": "I want to book"},
             {"speaker": "agent", "start": 6.5, "end": 8.1, "text": "Sure, for…", "interrupted": True},
             {"speaker": "caller", "start": 7.9, "end": 9.0, "text": "Tuesday at ten"}]
    found = listing.overlaps(turns)
    assert [(o["kind"], o["at"], o["agent_end"]) for o in found] == [("backchannel", 2.0, 4.0), ("barge-in", 7.9, 8.1)]


def test_the_record_keeps_each_state_and_carrier_callback_with_its_time(store, tmp_path):  # noqa: F811
    records = CallRecords.for_store(store)
    _record(records, status="queued")
    records.event("call_t", "carrier", "initiated")
    assert records.advance("call_t", "ringing")
    assert not records.advance("call_t", "initiated")  # never undone, and no event for it
    records.started("call_t")
    records.event("call_t", "carrier", "amd", answered_by="human")
    records.finish("call_t", "completed", "end_call", [])
    events = records.get("call_t").events
    assert [(e["source"], e["status"]) for e in events] == [
        ("runner", "queued"), ("carrier", "initiated"), ("runner", "ringing"), ("runner", "in-progress"),
        ("carrier", "amd"), ("runner", "completed")]
    assert events[4]["answered_by"] == "human" and events[5]["end_reason"] == "end_call"
    assert all(datetime.fromisoformat(e["at"]) for e in events)
    shown = listing.status_events(records.get("call_t").__dict__)
    offsets = [e["offset"] for e in shown]  # from when the media started: in-progress is at 0
    assert offsets == sorted(offsets) and offsets[0] <= 0 and abs(offsets[3]) < 0.05
    assert shown[4]["detail"] == "answered_by human"


def test_the_call_page_lists_every_webhook_attempt_with_its_time_and_answer(store, tmp_path):  # noqa: F811
    records = CallRecords.for_store(store)
    _record(records)
    conn = connect(tmp_path / "state")
    outcomes.save(conn, "call_t", returns=None, tool_calls=[], turns=[])
    outbox = Outbox(conn)
    outbox.enqueue(call_id="call_t", url="http://127.0.0.1:9/hook", payload='{"x": 1}', event="call.completed")
    for answer in (503, 200):
        [row] = outbox.claim("w", lease_sec=30)
        outbox.record_attempt(row, http_status=answer, error=None if answer == 200 else "HTTP 503", duration_ms=12.5,
                              ok=answer == 200, owner="w", base_delay=0.0, max_delay=0.0)
    page = listing.timeline(tmp_path / "state", "call_t")
    [hook] = page["webhooks"]
    assert hook["status"] == "delivered"
    assert [(a["attempt"], a["http_status"], a["error"]) for a in hook["attempt_log"]] == [(1, 503, "HTTP 503"), (2, 200, None)]
    assert all(a["when"].startswith(str(datetime.now().year)) for a in hook["attempt_log"])


def test_the_revision_live_at_the_calls_serial_with_its_hash_is_the_one_that_answered():
    revs = [{"id": 1, "serial": 1, "hash": "aaa"}, {"id": 4, "serial": 3, "hash": "bbb"},
            {"id": 7, "serial": 5, "hash": "ccc"}]
    assert [r["answered"] for r in history.rows(revs, serial=4, hash_="bbb")] == [False, True, False]
    assert not any(r["answered"] for r in history.rows(revs, serial=4, hash_="zzz"))  # disagreeing pin: none
    assert not any(r["answered"] for r in history.rows(revs))
