"""Section: mid-turn pauses. A caller who pauses mid-sentence must not be answered in the pause.

Each paused line is two Piper utterances, the first stopping mid-sentence ("I'd like to book"),
joined by exactly ``gap_ms`` of silence (300, 500, 700) before the rest ("a cleaning for next
week."); plain lines without a pause sit between them. Every call goes through a real runner on the
real Media Streams WebSocket (bench/caller.py), with the scripted providers at published latencies
(STT final 150 ms after the voice stops, as a streaming STT finalises on a short pause, with the
words actually spoken in that stretch; LLM first token 150 ms; first audio 100 ms), so only the
end-of-turn setting differs between the rows, measured in one run:

- ``vad``: the VAD alone, its silence (``vad_stop_secs`` 0.2) ends the turn;
- ``smart_turn``: pipecat's bundled smart-turn v3 model judges each VAD stop (``turn.smart_turn``);
- ``words``: the default: a turn whose words so far stop mid-sentence waits until
  ``turn.unfinished_stop_secs`` (1.2 s) after the last speech (runner/calls/turn_end.py).

Per setting: cut off = the agent's audio reaching the caller while its line is unfinished (between
its first and last voiced sample), as a count and a rate over the paused lines, per gap; turn
latency = the line's last voiced sample -> the agent's first audio frame, p50/p95, over every line
not cut off; and how many answers the runner counted per line spoken (1.0 when no turn was split).
Targets: no caller cut off in a 300-700 ms pause; turn latency median < 500 ms.
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

import numpy as np

from . import analyse, voice
from .caller import Step, Trace
from .place import place, run
from .stack import Stack

GAPS_MS = (300, 500, 700)
# (before the pause, after it). The first ends on a content word the words rule cannot see as
# unfinished ("book" is in its list; "cancel" is not, as "I need to cancel." is often a whole turn).
PAUSED = (
    ("I'd like to book", "a cleaning for next week."),
    ("My name is", "Sarah Johnson."),
    ("Can I come in on", "Thursday afternoon?"),
    ("I was wondering if", "you take my insurance."),
    ("The appointment is for", "my son."),
    ("Could you move it to", "the morning?"),
    ("I need to cancel", "my appointment on Friday."),
)
PLAIN = ("Do you have anything later in the afternoon?", "What is the address of your office?")
REPLY = "Sure."
SETTINGS: dict[str, dict[str, Any]] = {
    "vad": {"title": "VAD alone (stop 0.2 s)", "turn": {"unfinished_stop_secs": 0}},
    "smart_turn": {"title": "smart-turn v3 on the VAD", "turn": {"smart_turn": True, "unfinished_stop_secs": 0}},
    "words": {"title": "words (default: unfinished -> 1.2 s)", "turn": {}},
}
TARGETS = {"cut_off_rate": 0.0, "total_ms.median": 500.0}


@lru_cache(maxsize=None)
def paused(first: str, rest: str, gap_ms: int) -> voice.Utterance:
    """``first``, ``gap_ms`` of digital silence, ``rest``: each Piper's voice trimmed to its voiced span."""
    from cb.plugins.local import speech

    a, b = (speech.voiced(np.frombuffer(speech.synthesize(t), dtype=np.int16)) for t in (first, rest))
    pcm = np.concatenate([a, np.zeros(voice.RATE * gap_ms // 1000, dtype=np.int16), b])
    return voice.from_pcm(f"{first} ... {rest}", pcm)


def script(lines: list[tuple[str, str] | str], gap_ms: int) -> tuple[list[Step], list[str]]:
    """The call's steps and what the scripted STT says, stretch by stretch, in order."""
    steps, transcripts = [], []
    for line in lines:
        if isinstance(line, tuple):
            steps.append(Step("turn", paused(*line, gap_ms)))
            transcripts += [line[0], " " + line[1]]
        else:
            steps.append(Step("turn", voice.spoken(line)))
            transcripts.append(line)
    return steps, transcripts


def stack(setting: str, transcripts: list[str]) -> Stack:
    pipeline = {"stt": {"provider": "scripted", "options": {"delay_ms": 150, "transcripts": transcripts}},
                "tts": {"provider": "scripted", "options": {"first_audio_ms": 100}},
                "turn": dict(SETTINGS[setting]["turn"])}
    return Stack(pipeline=pipeline, llm_script={"turns": [], "default": REPLY, "first_token_ms": 150})


def started(setting: str, transcripts: list[str], tries: int = 3) -> Stack:
    """A started stack; a runner slow to come ready on a loaded machine is tried again."""
    for attempt in range(tries):
        s = stack(setting, transcripts)
        try:
            s.start()
            return s
        except RuntimeError:
            s.close()
            if attempt == tries - 1:
                raise
    raise AssertionError("unreachable")


def lines_for(quick: bool) -> list[tuple[str, str] | str]:
    chosen = [PAUSED[0], PAUSED[1], PAUSED[6]] if quick else list(PAUSED)
    out: list[tuple[str, str] | str] = []
    for i, line in enumerate(chosen):
        out.append(line)
        if i % 3 == 2 or i == len(chosen) - 1:
            out.append(PLAIN[(i // 3) % len(PLAIN)])
    return out


def rows_of(trace: Trace) -> list[dict[str, Any]]:
    out = []
    for sent in trace.steps:
        utt = sent.step.utterance
        last_frame = sent.first_frame + utt.last_voice // voice.FRAME_SAMPLES
        if last_frame >= len(trace.sent_at):
            continue
        began, ended = trace.captured(sent, 0), trace.captured(sent, utt.last_voice)
        cut = any(began < t < trace.sent_at[last_frame] for t in trace.media_at)
        first_audio = analyse._first_after(trace.media_at, trace.sent_at[last_frame])
        out.append({"line": utt.name, "paused": " ... " in utt.name, "cut_off": cut,
                    "total_ms": None if cut else analyse.ms(first_audio, ended)})
    return out


def answers(s: Stack, call_id: str | None) -> int | None:
    """The turns the runner answered in the call (its record's per-turn rows), once it is written."""
    deadline = time.monotonic() + 5
    while call_id and time.monotonic() < deadline:
        record = s.call_record(call_id) or {}
        if record.get("status") not in (None, "in_progress", "ringing", "pending"):
            return len(record.get("turns") or [])
        time.sleep(0.2)
    return None


def measure(setting: str, quick: bool) -> dict[str, Any]:
    lines = lines_for(quick)
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    spoken, answered = 0, 0
    by_gap: dict[str, dict[str, int]] = {}
    for gap in GAPS_MS:
        steps, transcripts = script(lines, gap)
        try:
            s = started(setting, transcripts)
        except RuntimeError as exc:  # a runner that never came ready: this gap is an error, not the section
            errors.append(f"{gap} ms: {str(exc)[:200]}")
            continue
        try:
            trace = run(place(s, steps, quiet_ms=600))
            if trace.error or trace.refused:
                errors.append(f"{gap} ms: {trace.error or trace.refused}")
            got = rows_of(trace)
            n = answers(s, trace.call_id)
        finally:
            s.close()
        if n is not None:
            spoken, answered = spoken + len(got), answered + n
        rows += got
        pausing = [r for r in got if r["paused"]]
        by_gap[str(gap)] = {"paused_lines": len(pausing), "cut_off": sum(r["cut_off"] for r in pausing),
                            "cut_off_lines": [r["line"] for r in pausing if r["cut_off"]]}
    pausing = [r for r in rows if r["paused"]]
    result: dict[str, Any] = {
        "setting": setting, "title": SETTINGS[setting]["title"], "turn": SETTINGS[setting]["turn"],
        "paused_lines": len(pausing), "cut_off": sum(r["cut_off"] for r in pausing),
        "cut_off_rate": round(sum(r["cut_off"] for r in pausing) / len(pausing), 3) if pausing else None,
        "by_gap": by_gap, "answers_per_line": round(answered / spoken, 2) if spoken else None,
        "total_ms": analyse.summary([r["total_ms"] for r in rows]),
        "total_ms_plain": analyse.summary([r["total_ms"] for r in rows if not r["paused"]]),
        "plain_cut_off": sum(r["cut_off"] for r in rows if not r["paused"]), "errors": errors}
    result["targets"] = {
        "cut_off_rate": {"limit": 0.0, "value": result["cut_off_rate"], "met": result["cut_off_rate"] == 0.0},
        "total_ms.median": {"limit": 500.0, "value": result["total_ms"].get("median"),
                            "met": (result["total_ms"].get("median") or 1e9) < 500.0}}
    return result


def main(quick: bool = False, settings: tuple[str, ...] = tuple(SETTINGS)) -> dict[str, Any]:
    return {name: measure(name, quick) for name in settings}
