"""Media Streams messages as Twilio's "WebSocket Messages" page shows them pass; what the runner or
pipecat's TwilioFrameSerializer reads is checked with its type; an unknown, well-formed event is
ignored rather than ending a live call."""

from __future__ import annotations

import asyncio
import json

import pytest

from cb.runner.calls.stream_messages import Guarded, Malformed, check

SID = "MZ18ad3ab5a668481ce02b83e7395059f0"
TWILIO = [  # the documented examples
    {"event": "connected", "protocol": "Call", "version": "1.0.0"},
    {"event": "start", "sequenceNumber": "1", "start": {
        "accountSid": "AC" + "0" * 32, "streamSid": SID, "callSid": "CA" + "0" * 32, "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        "customParameters": {"FirstName": "Jane"}}, "streamSid": SID},
    {"event": "media", "sequenceNumber": "3", "media": {"track": "outbound", "chunk": "1", "timestamp": "5",
                                                       "payload": "no+JhoaJjpzSHxAKBgYJDhtEopGKh4aIjZm7JhILBwYIDRg1qZSLh4aIjJavLBUMBwYHDBUsr5aMiIaHi5SpNRgNCAYHChIm"},
     "streamSid": SID},
    {"event": "dtmf", "streamSid": SID, "sequenceNumber": "5", "dtmf": {"track": "inbound_track", "digit": "1"}},
    {"event": "mark", "sequenceNumber": "4", "streamSid": SID, "mark": {"name": "my label"}},
    {"event": "stop", "sequenceNumber": "5", "streamSid": SID,
     "stop": {"accountSid": "AC" + "0" * 32, "callSid": "CA" + "0" * 32}},
]


@pytest.mark.parametrize("message", TWILIO, ids=[m["event"] for m in TWILIO])
def test_twilios_documented_messages_pass(message):
    assert check(json.dumps(message)) == message


@pytest.mark.parametrize("message", [
    {"event": "media", "media": {"payload": "AAAA", "chunk": 7, "timestamp": 140}},  # numbers where docs say strings
    {"event": "start", "start": {"streamSid": SID, "callSid": "CA1", "tracks": "inbound", "mediaFormat": None}},
    {"event": "stop"}, {"event": "mark", "mark": "x"}, {"event": "media", "sequenceNumber": 3, "media": {"payload": ""}},
    {"event": "transcription", "transcription": {"text": "a new event"}},
], ids=["media-numbers", "start-unread-fields", "stop-bare", "mark-unread", "sequence-number", "unknown-event"])
def test_fields_nobody_reads_and_unknown_events_are_not_judged(message):
    assert check(json.dumps(message)) == message


@pytest.mark.parametrize("message, why", [
    ({"event": "media", "media": {"payload": "not base64!"}}, "not base64"),
    ({"event": "media", "media": {"payload": "AAA"}}, "not base64"),
    ({"event": "media", "media": {"payload": 5}}, "media.payload is a int"),
    ({"event": "media", "media": {}}, "media.payload is missing"),
    ({"event": "dtmf", "dtmf": {"digit": [1]}}, "dtmf.digit is a list"),
    ({"event": "start", "start": {"streamSid": SID}}, "start.callSid is missing"),
    ({"event": "start", "start": {"callSid": "CA1", "streamSid": SID, "accountSid": 1}}, "accountSid is a int"),
    ({"event": None}, "event is missing"),
])
def test_what_is_read_is_checked(message, why):
    with pytest.raises(Malformed, match=why):
        check(json.dumps(message))


class FakeSocket:
    def __init__(self, texts):
        self.texts, self.closed = list(texts), None

    async def receive(self):
        return {"type": "websocket.receive", "text": self.texts.pop(0)}

    async def close(self, code, reason=""):
        self.closed = code


def test_a_live_call_goes_on_past_an_unknown_event_and_ends_on_a_malformed_one(caplog):
    ws = FakeSocket([json.dumps({"event": "novel", "novel": {}}), json.dumps({"event": "novel"}),
                     json.dumps(TWILIO[2]), json.dumps({"event": "media", "media": {"payload": "%%%%"}})])
    guarded = Guarded(ws, "call_1")

    async def go():
        return [(await guarded.receive())["type"] for _ in range(4)]
    caplog.set_level("INFO", logger="cb.runner.calls")
    kinds = asyncio.run(go())
    assert kinds == ["websocket.receive"] * 3 + ["websocket.disconnect"] and ws.closed == 1008
    assert caplog.text.count("ignoring Media Streams event 'novel'") == 1
