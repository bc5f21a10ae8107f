"""Section 2: barge-in, the caller talking over the agent.

The agent answers each caller turn with a long reply (~9 s of scripted speech); the caller talks
over it ``after_ms`` after it starts. Measured per barge-in, from the first interrupting sample:
-> the VAD's decision (replayed), decision -> Twilio ``clear`` (target p95 <= 20 ms), and
-> silence, the later of ``clear`` and the agent's last frame (target p95 <= 250 ms).
False barge-ins: a cough and an "mm-hm" over the agent; any ``clear`` they cause is counted.

The agent's ``interruptions.min_speech_ms`` sets how much speech counts (VAD start_secs); the
default (200 ms) is measured, and a shorter setting beside it, to show the trade-off.
"""

from __future__ import annotations

from typing import Any

from . import analyse, voice
from .caller import Step
from .place import place, run
from .stack import Stack

LONG_REPLY = ("Of course. We have openings on Monday, Tuesday and Thursday, in the morning or the "
              "afternoon, and the doctor can also see you on Saturday if that suits you better.")
TARGETS = {"decision_to_clear_ms.p95": 20.0, "onset_to_silence_ms.p95": 250.0}


def stack(min_speech_ms: int, profile_ms: tuple[int, int, int] = (0, 0, 0)) -> Stack:
    stt, llm, tts = profile_ms
    pipeline = {"stt": {"provider": "scripted", "options": {"delay_ms": stt}},
                "tts": {"provider": "scripted", "options": {"first_audio_ms": tts}},
                "interruptions": {"enabled": True, "min_speech_ms": min_speech_ms},
                "turn": {"vad_start_secs": min(0.2, min_speech_ms / 1000)}}
    return Stack(pipeline=pipeline, llm_script={"turns": [], "default": LONG_REPLY, "first_token_ms": llm},
                 greeting=LONG_REPLY)


def steps(barge_ins: int) -> list[Step]:
    """Alternate: a barge-in, then a cough and an mm-hm over the next reply, ..."""
    out: list[Step] = []
    barge = voice.spoken(voice.BARGE_LINE)
    for i in range(barge_ins):
        out.append(Step("barge", barge, after_ms=700 + 150 * (i % 4)))  # vary the phase against frames
        out.append(Step("burst", voice.cough() if i % 2 == 0 else voice.mm_hm(), after_ms=800))
    return out


def measure(min_speech_ms: int, calls: int, barge_ins: int) -> dict[str, Any]:
    rows, burst_rows, errors = [], [], []
    start_secs = max(min(0.2, min_speech_ms / 1000), min_speech_ms / 1000)  # as runner.calls.pipeline.vad_for
    with stack(min_speech_ms) as s:
        for _ in range(calls):
            trace = run(place(s, steps(barge_ins)))
            if trace.error or trace.refused:
                errors.append(trace.error or trace.refused)
            vad = analyse.vad_replay(trace, start_secs, 0.2)
            rows += analyse.barge_ins(trace, vad)
            burst_rows += analyse.bursts(trace)
    result: dict[str, Any] = {"min_speech_ms": min_speech_ms, "vad_start_secs": start_secs, "calls": calls,
                              "barge_ins": len(rows), "cleared": sum(r["cleared"] for r in rows), "errors": errors}
    for key in ("onset_to_decision_ms", "decision_to_clear_ms", "onset_to_clear_ms", "onset_to_last_frame_ms",
                "onset_to_silence_ms", "frames_after_clear"):
        result[key] = analyse.summary([r.get(key) for r in rows])
    for name in ("cough", voice.MM_HM):
        tried = [b for b in burst_rows if b["name"] == name]
        result[f"false_{'cough' if name == 'cough' else 'mm_hm'}"] = {
            "tried": len(tried), "false_barge_ins": sum(b["false_barge_in"] for b in tried)}
    from .turns import check

    result["targets"] = check(result, TARGETS)
    return result


def main(quick: bool = False, settings: tuple[int, ...] = (200, 120)) -> dict[str, Any]:
    calls, barge_ins = (1, 3) if quick else (2, 6)
    return {str(ms): measure(ms, calls, barge_ins) for ms in settings}
