"""From a caller's raw trace to the figures: turn latency, barge-in, false barge-ins, pacing jitter.

Where the VAD decided is found by replaying, after the call, the exact frames the caller sent
through the same Silero analyser with the agent's parameters (the model is deterministic and sees
the same 20 ms frames from the same first frame on). That splits a turn into the endpointing
silence (last voiced sample -> the frame on which the VAD declared the turn over) and what the
runner did after it decided (the orchestration), without trusting the runner's own clock.
"""

from __future__ import annotations

import audioop
import statistics
from dataclasses import dataclass
from typing import Any, Iterable

from cb.plugins.local.twilio_peer import FRAME_SECS

from .caller import Trace
from .voice import ULAW_SILENCE

SILENCE_PCM = audioop.ulaw2lin(ULAW_SILENCE, 2)


@dataclass(frozen=True)
class VadEvent:
    frame: int  # global index of the frame on which the VAD changed its mind
    speaking: bool


def vad_replay(trace: Trace, start_secs: float, stop_secs: float) -> list[VadEvent]:
    """The VAD's start/stop decisions on exactly what the runner was sent, as VADController emits them."""
    from pipecat.audio.vad.vad_analyzer import VADState

    from cb.providers.pipeline import vad_analyzer

    analyzer = vad_analyzer(start_secs=start_secs, stop_secs=stop_secs)
    analyzer.set_sample_rate(8000)
    state, events = VADState.QUIET, []
    for i, payload in enumerate(trace.sent_audio):
        new = analyzer._run_analyzer(SILENCE_PCM if payload is None else audioop.ulaw2lin(payload, 2))
        if new != state and new in (VADState.SPEAKING, VADState.QUIET):
            events.append(VadEvent(i, new == VADState.SPEAKING))
            state = new
    return events


def _next(events: list[VadEvent], frame: int, speaking: bool) -> VadEvent | None:
    return next((e for e in events if e.frame >= frame and e.speaking == speaking), None)


def _first_after(times: Iterable[float], t: float) -> float | None:
    return next((x for x in times if x >= t), None)


def ms(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round((a - b) * 1000, 2)


def turns(trace: Trace, vad: list[VadEvent] | None) -> list[dict[str, Any]]:
    """Per spoken turn: total (last voiced sample -> agent's first frame) and, with the replay,
    endpointing (-> VAD stop decision) and orchestration (VAD stop decision -> agent's first frame)."""
    out = []
    for sent in trace.steps:
        if sent.step.kind != "turn":
            continue
        utt = sent.step.utterance
        last_frame = sent.first_frame + utt.last_voice // 160
        if last_frame >= len(trace.sent_at):
            continue
        last_voice = trace.captured(sent, utt.last_voice)
        first_audio = _first_after(trace.media_at, trace.sent_at[last_frame])
        row = {"total_ms": ms(first_audio, last_voice)}
        if vad is not None:
            stop = _next(vad, last_frame, False)
            decided = trace.sent_at[stop.frame] if stop and stop.frame < len(trace.sent_at) else None
            row["endpointing_ms"] = ms(decided, last_voice)
            row["orchestration_ms"] = ms(first_audio, decided)
        out.append(row)
    return out


def barge_ins(trace: Trace, vad: list[VadEvent] | None) -> list[dict[str, Any]]:
    """Per barge-in: first interrupting sample -> clear, -> the agent's last frame, and with the
    replay, -> the VAD's decision and decision -> clear."""
    out = []
    for sent in trace.steps:
        if sent.step.kind != "barge":
            continue
        utt = sent.step.utterance
        first_frame = sent.first_frame
        end_frame = min(first_frame + len(utt.frames), len(trace.sent_at)) - 1
        onset = trace.captured(sent, utt.first_voice)
        window_end = trace.sent_at[end_frame]
        clear = _first_after(trace.clear_at, trace.sent_at[first_frame])
        clear = clear if clear is not None and clear <= window_end + 1.0 else None
        old = [t for t in trace.media_at if trace.sent_at[first_frame] <= t <= window_end]
        last_media = old[-1] if old else onset
        # the frames that arrived just before the caller's first one still play out after it
        prior = [t for t in trace.media_at if t < trace.sent_at[first_frame]][-1:]
        row = {"cleared": clear is not None, "onset_to_clear_ms": ms(clear, onset),
               "onset_to_last_frame_ms": ms(last_media, onset),
               "onset_to_silence_ms": ms(max(onset, silence(trace.media_at, prior + old, clear, onset)), onset),
               "frames_after_clear": sum(1 for t in old if clear is not None and t > clear)}
        if vad is not None:
            start = _next(vad, first_frame, True)
            decided = trace.sent_at[start.frame] if start and start.frame <= end_frame else None
            row["onset_to_decision_ms"] = ms(decided, onset)
            row["decision_to_clear_ms"] = ms(clear, decided)
        out.append(row)
    return out


def playout_end(media_at: list[float], upto: float) -> float | None:
    """When Twilio has played every agent frame that arrived up to ``upto``: each 20 ms frame plays
    from its arrival or from the end of the frame before it, whichever is later."""
    end = None
    for t in media_at:
        if t > upto:
            break
        end = max(t, end if end is not None else t) + FRAME_SECS
    return end


def silence(media_at: list[float], old: list[float], clear: float | None, onset: float) -> float:
    """When the caller stops hearing the interrupted answer: Twilio plays what it holds until the
    ``clear`` empties its buffer; a frame that arrives after the clear plays out."""
    before = [t for t in old if clear is None or t <= clear]
    after = [t for t in old if clear is not None and t > clear]
    quiet = playout_end(media_at, before[-1]) if before else onset
    if clear is not None:
        quiet = min(quiet, clear)
    if after:
        quiet = max(quiet, playout_end(media_at, after[-1]))
    return quiet


def bursts(trace: Trace, window_s: float = 1.0) -> list[dict[str, Any]]:
    """Per cough or mm-hm over the agent: did the runner send clear (a false barge-in)?"""
    out = []
    for sent in trace.steps:
        if sent.step.kind != "burst":
            continue
        begin = trace.sent_at[sent.first_frame] if sent.first_frame < len(trace.sent_at) else None
        clear = _first_after(trace.clear_at, begin) if begin is not None else None
        out.append({"name": sent.step.utterance.name,
                    "false_barge_in": clear is not None and clear - begin <= sent.step.utterance.seconds + window_s})
    return out


def jitter(trace: Trace, gap_s: float = 0.1, skip_start: bool = True) -> list[float]:
    """|inter-arrival - 20 ms| of the agent's frames within each utterance (a gap over ``gap_s`` ends one).

    pipecat's output transport sends an utterance's first two frames back to back (its pacing
    clock starts after the first write), one 20 ms pre-roll per utterance that a playout buffer
    absorbs; with ~80 frames an utterance it alone puts the p99 at ~20 ms on an idle machine.
    ``skip_start`` leaves that first interval out; the report keeps both figures."""
    out = []
    times = trace.media_at
    start = True
    for a, b in zip(times, times[1:]):
        d = b - a
        if d > gap_s:
            start = True
            continue
        if not (start and skip_start):
            out.append(abs(d - FRAME_SECS) * 1000)
        start = False
    return out


def late(trace: Trace, gap_s: float = 0.1) -> list[float]:
    """Per agent frame within an utterance, how late it arrived for Twilio's playout, ms: Twilio
    plays each frame from its arrival or the end of the one before, so a frame that arrives after
    the one before finished is a gap the caller hears (that long); one that arrives early waits in
    Twilio's buffer and costs nothing. The pacing figure for a sender that keeps a lead
    (runner/calls/pacing.py), where inter-arrival ``jitter`` counts the catch-up after a stall the
    caller never heard; for a sender with none (stock pipecat, ``CB_AUDIO_LEAD_MS=0``) the two
    agree on the late side. A silence over ``gap_s`` between frames is the end of an utterance."""
    out, end, prev = [], None, None
    for t in trace.media_at:
        if prev is not None and t - prev > gap_s:
            end = None  # a new utterance
        if end is not None:
            out.append(max(0.0, t - end) * 1000)
        end = max(t, end if end is not None else t) + FRAME_SECS
        prev = t
    return out


def pct(values: list[float], q: float) -> float | None:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    k = (len(values) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(values) - 1)
    return round(values[lo] + (values[hi] - values[lo]) * (k - lo), 2)


def summary(values: list[float | None]) -> dict[str, Any]:
    vals = [v for v in values if v is not None]
    if not vals:
        return {"n": 0}
    return {"n": len(vals), "median": round(statistics.median(vals), 2), "p95": pct(vals, 0.95),
            "p99": pct(vals, 0.99), "min": round(min(vals), 2), "max": round(max(vals), 2)}
