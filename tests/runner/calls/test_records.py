"""Call records live in the state database beside the revisions, through the store's connection."""

from __future__ import annotations

from cb.runner.calls.records import CallRecord, CallRecords, open_records


def test_a_call_record_round_trips_with_its_turns(store, tmp_path):
    records = CallRecords.for_store(store)
    records.create(CallRecord(id="call_1", agent="agent.front-desk", agent_revision="abc123", state_serial=3,
                              direction="inbound", from_number="+15550001111", to_number="+14155550100",
                              number="number.main", provider_call_id="CA1"))
    assert records.get("call_1").status == "ringing"
    records.started("call_1")
    records.add_turn("call_1", 1, {"endpointing_ms": 200.0, "stt_ms": 300.0, "llm_first_token_ms": 40.0,
                                   "tts_first_audio_ms": 90.0, "total_ms": 650.0})
    transcript = [{"role": "agent", "text": "Hello", "at_ms": 10}, {"role": "caller", "text": "Hi", "at_ms": 900}]
    records.finish("call_1", "completed", "end_call", transcript)
    # A second connection (another process, e.g. the CLI) reads the same record.
    rec = open_records(tmp_path / "state").get("call_1")
    assert (rec.status, rec.end_reason, rec.agent_revision, rec.state_serial) == ("completed", "end_call", "abc123", 3)
    assert rec.transcript == transcript
    assert rec.turns == [{"turn": 1, "endpointing_ms": 200.0, "stt_ms": 300.0, "llm_first_token_ms": 40.0,
                          "tts_first_audio_ms": 90.0, "total_ms": 650.0}]
    assert rec.started_at and rec.ended_at and rec.started_at <= rec.ended_at


def test_listing_is_newest_first_and_filters_by_agent(store):
    records = CallRecords.for_store(store)
    for i, agent in enumerate(["agent.a", "agent.b", "agent.a"]):
        records.create(CallRecord(id=f"call_{i}", agent=agent, agent_revision="h", state_serial=1,
                                  direction="inbound", from_number=None, to_number=None, created_at=f"2026-01-0{i + 1}"))
    assert [r.id for r in records.list()] == ["call_2", "call_1", "call_0"]
    assert [r.id for r in records.list(agent="agent.a")] == ["call_2", "call_0"]
    assert records.get("nope") is None
