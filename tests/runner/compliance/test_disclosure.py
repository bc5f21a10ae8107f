"""Recording consent: the policy's disclosure is said first on the call (before the greeting), is
a decision on the record, and where consent is required (the policy, or the other party's state
in its all-party-consent list, or unknown) the recording holds its audio until the disclosure
has played whole; with no disclosure to say, it records no audio at all."""

from __future__ import annotations

import asyncio
import wave
from datetime import datetime, timezone

import numpy as np
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    InputAudioRawFrame,
    InterruptionFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
)
from pipecat.observers.base_observer import FramePushed
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import TransportParams

from cb.contracts.outbound_call import OutboundCallRequest
from cb.runner.calls.callplan import plan_call
from cb.runner.compliance.clock import FixedClock
from cb.runner.postcall.capture import CallCapture

from tests.support.fleet import FLEET, commit_fleet, store  # noqa: F401  (fixture)

from .test_dial_queue import Provider

DISCLOSURE = "This call is recorded for quality."
POLICY = """\
---
apiVersion: cb/v1
kind: CompliancePolicy
metadata: {{name: rec}}
spec:
  recording_consent: {{required: {required}, {text}all_party_states: [FL, CA]}}
"""
FL, NY = "+13055550100", "+12125550100"
RATE = 8000
FRAME = b"\x10\x27" * (RATE // 50)  # 20 ms of a constant, non-zero signal


def fleet(required="false", text=f'disclosure: "{DISCLOSURE}", '):
    return FLEET.replace("  tools: [book, end_call]", "  tools: [book, end_call]\n  compliance: [rec]") + \
        POLICY.format(required=required, text=text)


def test_the_disclosure_is_said_first_and_the_recording_waits_where_consent_is_required(store, tmp_path):
    snap = commit_fleet(store, tmp_path, fleet())
    florida = plan_call(snap, to_number="+14155550100", from_number=FL)  # an inbound caller from Florida
    assert florida.greeting == f"{DISCLOSURE} Thanks for calling Acme Dental."
    assert florida.disclosure.hold == "after_disclosure" and florida.disclosure.state == "FL"
    new_york = plan_call(snap, to_number=NY, from_number="+14155550100", direction="outbound")
    assert new_york.greeting.startswith(DISCLOSURE) and new_york.disclosure.hold is None  # one-party state
    unknown = plan_call(snap, to_number="+447700900123", from_number="+14155550100", direction="outbound")
    assert unknown.disclosure.hold == "after_disclosure" and unknown.disclosure.state is None
    assert "the recording starts after it has played" in florida.disclosure.decision()["detail"]

    snap = commit_fleet(store, tmp_path, fleet(required="true", text=""))
    silent = plan_call(snap, to_number=NY, from_number="+14155550100", direction="outbound")
    assert silent.greeting == "Thanks for calling Acme Dental." and silent.disclosure.hold == "off"
    assert silent.disclosure.decision()["outcome"] == "recording_off"
    assert plan_call(commit_fleet(store, tmp_path), to_number="+14155550100", from_number=FL).disclosure is None


def test_an_outbound_calls_record_has_the_disclosure_decision(store, tmp_path):
    from cb.runner.compliance.dialing import Dialing
    from cb.runner.compliance.queue import DialQueue

    snap = commit_fleet(store, tmp_path, fleet())
    clock, log = FixedClock(datetime(2026, 1, 12, 18, tzinfo=timezone.utc)), []
    d = Dialing(Provider(clock, store, log), DialQueue.for_store(store), clock=clock)
    store.snapshot = lambda: snap
    body, status = asyncio.run(d.submit(OutboundCallRequest(agent="front-desk", to=FL)))
    assert status == 201
    assert log[0][2][-1]["rule"] == "recording_disclosure" and log[0][2][-1]["outcome"] == "allowed"
    asyncio.run(d.stop())


def record(tmp_path, hold, cut=False):
    async def go():
        capture = CallCapture(tmp_path, RATE, hold=hold)
        inp, out, tts = BaseInputTransport(TransportParams()), BaseOutputTransport(TransportParams()), FrameProcessor()

        async def push(frame, source=tts):
            await capture.on_push_frame(FramePushed(source=source, destination=tts, frame=frame,
                                                    direction=FrameDirection.DOWNSTREAM, timestamp=0, first_push=True))

        caller = InputAudioRawFrame(FRAME, RATE, 1)
        await push(BotStartedSpeakingFrame(), out)  # the disclosure and the greeting: the first turn
        await push(TTSTextFrame(DISCLOSURE, text_type="sentence"), out)
        for _ in range(10):
            await push(TTSAudioRawFrame(FRAME, RATE, 1), out)
            await push(caller, inp)  # the caller's line is open while it plays
        if cut:
            await push(InterruptionFrame(), tts)
        await push(BotStoppedSpeakingFrame(), out)
        for _ in range(10):
            await push(caller, inp)
        return capture, capture.close()

    capture, result = asyncio.run(go())
    with wave.open(result["recording"]) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).reshape(-1, 2)
    return result, int(np.count_nonzero(pcm[:, 0])), int(np.count_nonzero(pcm[:, 1]))


def test_the_recording_holds_its_audio_until_the_disclosure_has_played(tmp_path):
    per_frame = RATE // 50
    result, caller, agent = record(tmp_path / "free", None)
    assert (caller, agent) == (20 * per_frame, 10 * per_frame) and result["disclosed_at_sec"] is None
    result, caller, agent = record(tmp_path / "held", "after_disclosure")
    assert (caller, agent) == (10 * per_frame, 0) and result["disclosed_at_sec"] is not None
    result, caller, agent = record(tmp_path / "cut", "after_disclosure", cut=True)  # not heard whole
    assert (caller, agent) == (0, 0) and result["disclosed_at_sec"] is None
    result, caller, agent = record(tmp_path / "off", "off")
    assert (caller, agent) == (0, 0)
