from __future__ import annotations

import json

from cb.contracts.webhook_payload import WebhookPayload
from cb.runner.postcall import outcomes
from cb.runner.calls.records import CallRecord, open_records
from cb.runner.webhooks import Outbox
from cb.runner.webhooks.outbox import connect

from tests.cli.test_webhooks import cb

TURNS = [{"speaker": "agent", "text": "Thanks for calling.", "start": 0.0, "end": 1.2, "interrupted": False},
         {"speaker": "caller", "text": "Book me Tuesday at ten.", "start": 1.8, "end": 3.0, "interrupted": False},
         {"speaker": "agent", "text": "Of course, let me", "start": 3.4, "end": 3.9, "interrupted": True}]


def seed(state):
    records = open_records(state)
    records.create(CallRecord(id="call_one", agent="agent.front-desk", agent_revision="4f1c2d3e4f5a6b7c",
                              state_serial=3, direction="inbound", from_number="+15005550006",
                              to_number="+14155550100"))
    records.started("call_one")
    records.add_turn("call_one", 1, {"endpointing_ms": 260.0, "stt_ms": 250.0, "llm_first_token_ms": 80.0,
                                     "tts_first_audio_ms": 90.0, "total_ms": 480.0})
    records.finish("call_one", "completed", "end_call", [{"role": "caller", "text": "Book me", "at_ms": 1}])
    conn = connect(state)
    outcomes.save(conn, "call_one", returns={"intent": "booking", "caller_name": "Maria Gomez"}, returns_attempts=1,
                  tool_calls=[{"name": "book_appointment", "ok": True, "status": "ok", "latency_ms": 212.0,
                               "arguments": {"slot": "2026-04-28T10:00:00-07:00"}}],
                  turns=TURNS, recording=str(state / "calls/call_one/recording.wav"))
    Outbox(conn).enqueue(call_id="call_one", url="http://127.0.0.1:9/calls",
                         payload=WebhookPayload(call_id="call_one", agent="agent.front-desk", status="completed",
                                                duration_sec=1))


def test_list_show_and_export_one_call(tmp_path):
    seed(tmp_path)
    out = cb("calls", "list", "--state", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "call_one" in out.stdout and "agent.front-desk" in out.stdout and "completed" in out.stdout
    assert "4f1c2d3e4f5a" in out.stdout and "ok" in out.stdout

    out = cb("calls", "show", "call_one", "--state", str(tmp_path))
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for expected in ("agent.front-desk @ 4f1c2d3e4f5a (state serial 3)", "caller Book me Tuesday at ten.",
                     "Of course, let me  [interrupted]", "book_appointment  ok  212 ms", '"caller_name": "Maria Gomez"',
                     "480", "end_call", "pending"):
        assert expected in text, f"{expected!r} not in:\n{text}"

    exported = json.loads(cb("calls", "export", "call_one", "--state", str(tmp_path)).stdout)
    assert exported["returns"]["intent"] == "booking" and exported["transcript"] == TURNS
    assert exported["latency"][0]["total_ms"] == 480.0 and exported["agent_revision"] == "4f1c2d3e4f5a6b7c"
    assert exported["webhooks"][0]["status"] == "pending"
    target = tmp_path / "call.json"
    assert cb("calls", "export", "call_one", "--state", str(tmp_path), "--out", str(target)).returncode == 0
    assert json.loads(target.read_text()) == exported


def test_an_unknown_call_or_missing_state_is_a_user_error(tmp_path):
    seed(tmp_path)
    out = cb("calls", "show", "call_nope", "--state", str(tmp_path))
    assert out.returncode == 1 and "no call 'call_nope'" in out.stderr and "cb calls list" in out.stderr
    out = cb("calls", "list", "--state", str(tmp_path / "missing"))
    assert out.returncode == 1 and "no state database" in out.stderr
    assert not (tmp_path / "missing").exists()
