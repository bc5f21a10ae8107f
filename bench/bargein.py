"""Section 2: barge-in, the caller talking over the agent, and backchannels that must not stop it.

The agent answers each caller turn with a long reply (~9 s of scripted speech); the caller talks
over it. Speech is Piper's and the STT is the local Whisper, so what decides (backchannel.py) is
what the runner really heard. In each call, round after round: a real interruption (the barge
line or "Wait, stop, I have a question."), then two backchannels over the new reply ("Mm-hm.",
"Yeah.", "Okay.", "Uh-huh.", "Right.") and a cough every other round. Measured:

- per interruption, from the first interrupting sample: -> silence, the later of ``clear`` and
  Twilio playing out the agent's last frame (target p95 <= 250 ms, stretch 150 ms), -> ``clear``
  (the decision), and -> the VAD's decision (replayed);
- per backchannel: did the agent stop (``clear``; target <= 1 in 10); did it pause (a gap over
  ``PAUSE_S`` in its frames) and for how long before it went on (the resume gap); the same for
  coughs (false pauses).

Each setting of ``interruptions.min_speech_ms`` is run with backchannels (the default), and the
first also without (``CB_BACKCHANNELS=0``: every voice interrupts, the pause on the first voiced
window), in the same run, so before and after sit side by side.
"""

from __future__ import annotations

from typing import Any

from . import analyse, voice
from .caller import Step
from .place import place, run
from .stack import Stack

LONG_REPLY = ("Of course. We have openings on Monday, Tuesday and Thursday, in the morning or the "
              "afternoon, and the doctor can also see you on Saturday if that suits you better.")
BARGE_LINES = (voice.BARGE_LINE, "Wait, stop, I have a question.")
BACKCHANNELS = ("Mm-hm.", "Yeah.", "Okay.", "Uh-huh.", "Right.")
TARGETS = {"onset_to_silence_ms.p95": 250.0}
PAUSE_S = 0.08  # a gap in the agent's 20 ms frames longer than this is a pause


def stack(min_speech_ms: int, env: dict[str, str] | None = None) -> Stack:
    pipeline = {"stt": {"provider": "whisper"},
                "tts": {"provider": "scripted", "options": {"first_audio_ms": 0}},
                "interruptions": {"enabled": True, "min_speech_ms": min_speech_ms},
                "turn": {"vad_start_secs": min(0.2, min_speech_ms / 1000)}}
    # the scripted profile: the runner preloads Whisper (and Piper), not the local LLM it never uses here
    return Stack(pipeline=pipeline, llm_script={"turns": [], "default": LONG_REPLY, "first_token_ms": 0},
                 greeting=LONG_REPLY, env={"CB_PROFILE": "scripted", **(env or {})})


def steps(rounds: int, offset: int = 0) -> list[Step]:
    """Round i: an interruption, two backchannels over the reply to it, a cough every other round."""
    out: list[Step] = []
    for i in range(rounds):
        out.append(Step("barge", voice.spoken(BARGE_LINES[i % 2]), after_ms=700 + 150 * (i % 4)))
        for j in range(2):
            said = BACKCHANNELS[(2 * (i + offset) + j) % len(BACKCHANNELS)]
            # the first waits out the interruption's own turn: "Wait, stop," may end a turn at its
            # pause and "I have a question" interrupt the answer to it (a clear that is not the burst's)
            out.append(Step("burst", voice.spoken(said), after_ms=2500 if j == 0 else 800))
        if i % 2 == 0:
            out.append(Step("burst", voice.cough(), after_ms=600))
    return out


def pauses(trace) -> list[dict[str, Any]]:
    """Per cough or backchannel: did the agent stop (a ``clear`` before the caller's next step:
    a slow STT's words may come seconds after the sound), and the longest gap in the agent's frames
    in that time (a pause, and how long before it went on)."""
    out = []
    sent_steps = trace.steps
    for k, sent in enumerate(sent_steps):
        if sent.step.kind != "burst" or sent.first_frame >= len(trace.sent_at):
            continue
        begin = trace.sent_at[sent.first_frame]
        nxt = sent_steps[k + 1].first_frame if k + 1 < len(sent_steps) else None
        end = trace.sent_at[nxt] if nxt is not None and nxt < len(trace.sent_at) else begin + 6.0
        stopped = any(begin <= c < end for c in trace.clear_at)
        gap = 0.0
        if not stopped:
            times = [t for t in trace.media_at if begin - 0.1 <= t <= end]
            gap = max((b - a for a, b in zip(times, times[1:])), default=0.0)
        out.append({"name": sent.step.utterance.name, "false_barge_in": stopped, "paused": gap > PAUSE_S,
                    "resume_gap_ms": round(gap * 1000, 1) if gap > PAUSE_S else None})
    return out


def measure(min_speech_ms: int, calls: int, rounds: int, env: dict[str, str] | None = None) -> dict[str, Any]:
    rows, burst_rows, errors = [], [], []
    start_secs = max(min(0.2, min_speech_ms / 1000), min_speech_ms / 1000)  # as runner.calls.pipeline.vad_for
    with stack(min_speech_ms, env) as s:
        for c in range(calls):
            trace = run(place(s, steps(rounds, offset=c)))
            if trace.error or trace.refused:
                errors.append(trace.error or trace.refused)
            vad = analyse.vad_replay(trace, start_secs, 0.2)
            rows += analyse.barge_ins(trace, vad)
            burst_rows += pauses(trace)
    result: dict[str, Any] = {"min_speech_ms": min_speech_ms, "vad_start_secs": start_secs, "calls": calls,
                              "runner_env": dict(env or {}), "barge_ins": len(rows),
                              "cleared": sum(r["cleared"] for r in rows), "errors": errors}
    for key in ("onset_to_decision_ms", "decision_to_clear_ms", "onset_to_clear_ms", "onset_to_last_frame_ms",
                "onset_to_silence_ms", "frames_after_clear"):
        result[key] = analyse.summary([r.get(key) for r in rows])
    backchannels = [b for b in burst_rows if b["name"] != "cough"]
    coughs = [b for b in burst_rows if b["name"] == "cough"]
    for key, tried in (("backchannels", backchannels), ("coughs", coughs)):
        result[key] = {"tried": len(tried), "stopped": sum(b["false_barge_in"] for b in tried),
                       "paused": sum(b["paused"] for b in tried),
                       "resume_gap_ms": analyse.summary([b["resume_gap_ms"] for b in tried])}
    result["backchannel_stops"] = {name: sum(b["false_barge_in"] for b in backchannels if b["name"] == name)
                                   for name in BACKCHANNELS}
    from .turns import check

    targets = dict(TARGETS)
    result["targets"] = check(result, targets)
    tried = result["backchannels"]["tried"]
    result["targets"]["backchannel_stops"] = {"target": "<= 1 in 10", "value": result["backchannels"]["stopped"],
                                              "met": tried > 0 and result["backchannels"]["stopped"] * 10 <= tried}
    return result


def main(quick: bool = False, settings: tuple[int, ...] = (200, 120)) -> dict[str, Any]:
    """``{"<ms>": with backchannels, "<ms> before": CB_BACKCHANNELS=0}``; --quick: one call of 5
    rounds (10 backchannels), the first setting only."""
    calls, rounds = (1, 5) if quick else (2, 5)
    settings = settings[:1] if quick else settings
    out: dict[str, Any] = {}
    for i, ms in enumerate(settings):
        if i == 0:
            out[f"{ms} before"] = measure(ms, calls, rounds, env={"CB_BACKCHANNELS": "0"})
        out[str(ms)] = measure(ms, calls, rounds)
    return out
