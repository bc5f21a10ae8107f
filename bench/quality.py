"""Section: what the caller hears. The agent's audio at the caller's ear against what the TTS produced.

One real call through a real `cb runner` with the offline default TTS (Piper, en_US-joe-medium):
the agent speaks a known long text in several long replies (~5 minutes in all; ``--quick``: one
reply, a 30 s call). Two recordings of the same audio are compared:

- what the TTS produced: the runner is started as ``python -m bench.quality runner ...``, which is
  `cb runner` with one more call observer (``TtsTap``) on the runner's own hook list: it writes
  every ``TTSAudioRawFrame`` the TTS service pushes, as it pushed it (8 kHz 16-bit PCM, after
  pipecat's resampling of Piper's 22.05 kHz), with the TTS context each frame belongs to (one per
  agent reply). Nothing in the product changes; re-synthesising the text in the bench would not
  do, because Piper's output is not deterministic (its noise and durations vary run to run).
- what arrived at the caller: every Media Streams ``media`` message the bench caller received
  (bench/caller.py), with its arrival time, mu-law decoded.

Then (the pure functions below, tested in tests/bench/test_quality.py):

- ``track``: content alignment. Each received 20 ms frame is found in the reference by
  cross-correlation (first where it should be, one frame after the last; else searched for).
  Voiced content that jumps forward is a dropped frame, content heard twice is a doubled frame,
  silence that is not in the reference is inserted. pipecat's Twilio serializer puts no sequence
  number or timestamp in the messages it sends, so content and arrival time are all there is.
- ``playout``: arrival timing. Twilio plays each frame from its arrival or the end of the one
  before, whichever is later; a frame of a reply that arrives after the one before has finished
  playing leaves a gap the caller hears (an underrun). Inter-arrival jitter beside it.
- ``pesq_nb``: PESQ narrow-band (ITU-T P.862, the ``pesq`` package) per reply, of the audio laid
  out as the caller hears it (gaps included) against the TTS's; beside it the same audio's G.711
  ceiling (the reference through mu-law and back), ~4.4.

Targets: PESQ close to the ceiling, 0 dropped, 0 doubled frames, 0 underruns.
"""

from __future__ import annotations

import audioop
import base64
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

RATE = 8000
FRAME = 160  # samples in 20 ms
SILENT_RMS = 60.0  # int16 RMS under ~-55 dBFS: Piper's pauses and the transport's padding
MATCH = 0.05  # a frame matches the reference where the residual energy is under 5 % of the frame's
TAP_ENV = "CB_BENCH_TAP"
UNDERRUN_S = 0.001  # a frame later than this after the one before finished playing leaves a gap
RESULTS = Path(__file__).resolve().parent / "results"

# The agent's replies: plain prose Piper reads without surprises (no digits, no abbreviations).
REPLIES = (
    "Thank you for calling the clinic. Before we look at the calendar together, let me tell you a "
    "little about how a first visit usually goes, so that nothing on the day comes as a surprise. "
    "When you arrive, the front desk will ask you to confirm your name, your date of birth and the "
    "address we should send letters to. After that, one of the nurses will walk you to a quiet room, "
    "take your blood pressure, and ask a few simple questions about your general health, any "
    "medicines you take every day, and anything that has been bothering you lately. Please bring a "
    "list of those medicines with you if you can, because it saves a great deal of time. The doctor "
    "will then join you, listen to what brought you in, and examine you if that is needed. Most "
    "first visits take about forty minutes from start to finish, although a busy morning can add a "
    "little waiting time.",
    "About parking and getting here. The clinic sits on the corner of the old market square, across "
    "the road from the library with the green doors. There is a small car park behind the building, "
    "which is free for patients for the first two hours; the machine by the entrance will ask for "
    "your car's registration, and the receptionist can stamp your ticket if you stay longer. If the "
    "car park is full, the public garage on the next street is usually quiet before ten in the "
    "morning and after two in the afternoon. Buses stop right outside the library every fifteen "
    "minutes during the day, and the walk from the railway station takes about twelve minutes along "
    "the river. The entrance has a ramp and wide doors, and there is a lift to the first floor, so "
    "please let us know if you would like someone to meet you at the door.",
    "A word about cancelling or moving an appointment. We understand that plans change, and we "
    "would much rather hear from you than wonder where you are. If you call us at least a day before "
    "your visit, we can offer your time to somebody on the waiting list, and there is never a charge "
    "for that. You can call this same number at any time, or reply to the reminder message we send "
    "two days before each visit. If something comes up on the morning itself, please still give us a "
    "ring, even if it is only a few minutes before your time; the doctor may be able to see you "
    "later the same day, or speak to you on the telephone instead. Missed visits without any word "
    "make it harder for everyone else to be seen, so we are grateful for every call.",
    "Now, what happens after your visit. If the doctor orders any tests, the nurse will explain "
    "where to go and whether you need to stop eating beforehand. Most results come back within a "
    "week, and we will call you as soon as they are ready, whether they are good news or need a "
    "second look. You can also ask for a printed summary of your visit at the front desk, which "
    "lists what was discussed, any new medicine and the dose, and when the doctor would like to see "
    "you again. If you feel worse at any point, or something new worries you, do not wait for the "
    "next appointment; call us during the day, and outside our opening hours the recorded message "
    "will tell you which service to contact. We would always rather you asked than sat at home "
    "feeling unsure.",
    "Finally, a few practical things that make the day easier. Please arrive about ten minutes "
    "before your time, so that the paperwork does not eat into your visit with the doctor. Bring a "
    "form of identification, your insurance card if you have one, and your glasses if you need them "
    "for reading. Children are very welcome, and there is a small corner with books and toys in the "
    "waiting room, although we do ask that they stay with an adult at all times. Our waiting room "
    "has water and a quiet area for anyone who finds busy rooms difficult. If you need an "
    "interpreter, tell us when you book, and we will arrange one at no cost to you. That is "
    "everything from me for now. Thank you for listening so patiently, and we look forward to "
    "seeing you soon.",
    "Since you asked, here is a little about the people you will meet. The clinic has three doctors, "
    "each with their own list of patients, and you are welcome to ask for the same one every time. "
    "Two nurses run the morning clinics for blood tests, dressings and vaccinations, and one of them "
    "also looks after the diabetes and asthma reviews in the afternoons. The front desk is kept by a "
    "small team who have worked here for many years and know most of the families in the town by "
    "name. If you ever feel that something was not handled as well as it should have been, please "
    "tell any of them, or ask for the practice manager, who reads every comment herself and always "
    "writes back. We also hold a short meeting for patients once a season, where anyone can come and "
    "say what they would like us to do better.",
    "And one last thing about the seasons. In the autumn we run extra clinics for flu injections on "
    "Saturday mornings, and you do not need to book for those: simply come along between nine and "
    "twelve with your card. In the winter the mornings are always the busiest, so if your question "
    "can wait, an afternoon appointment is usually quicker. In the spring many people come to us "
    "with hay fever and itchy eyes, and the pharmacy next door can often help without a visit at "
    "all. In the summer, if you are travelling abroad, please talk to the nurse at least six weeks "
    "before you leave, because some vaccinations need time to work. Whatever the season, we are here "
    "to help, and no question is too small.",
    "You also asked how the reminders work, so let me explain them properly. Two days before each "
    "visit we send a short message to the telephone number you gave us, with the day, the time and "
    "the name of the doctor or nurse you will see. If you reply with the word yes, nothing else "
    "happens, and we will expect you. If you reply with the word no, the time goes back to the "
    "calendar and somebody will call you within the day to find a better one. If you would rather "
    "have a letter or a telephone call than a message, tell the front desk and they will change it "
    "for you; the same goes for a second number, such as a daughter or a neighbour who helps you "
    "keep track of things. We never use your number for anything else, we never pass it to anyone "
    "outside the clinic, and you can ask us to stop the reminders at any time without giving a "
    "reason. Most people find them useful, and they have halved the number of missed visits since "
    "we started sending them.",
)
QUICK_REPLY = (
    "Thank you for calling the clinic. When you arrive, the front desk will ask you to confirm "
    "your name and your date of birth. One of the nurses will then walk you to a quiet room and ask "
    "a few simple questions about your health. Please bring a list of your medicines with you, "
    "because it saves a great deal of time on the day."
)
GREETING = "Hello, thanks for calling the clinic."
CALLER_LINE = "Could you tell me more about that?"


# ---------------------------------------------------------------------------------- in the runner
class TtsTap:
    """A call observer: what the TTS pushed (``tts.pcm``, ``tts.jsonl``: context id, first sample,
    samples and time.monotonic() per frame, the same clock as the caller's on one machine) and what
    the output transport wrote to the caller, after it wrote it (``out.pcm``, ``out.jsonl``)."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self._pcm = open(folder / "tts.pcm", "wb")
        self._index = open(folder / "tts.jsonl", "w")
        self._out = open(folder / "out.pcm", "wb")
        self._sent = open(folder / "out.jsonl", "w")
        self._samples = 0

    async def on_push_frame(self, data: Any) -> None:
        from pipecat.frames.frames import OutputAudioRawFrame, TTSAudioRawFrame
        from pipecat.processors.frame_processor import FrameDirection
        from pipecat.transports.base_output import BaseOutputTransport

        frame = data.frame
        if not isinstance(frame, OutputAudioRawFrame):
            return
        if isinstance(data.source, BaseOutputTransport) and data.direction == FrameDirection.DOWNSTREAM:
            self._out.write(frame.audio)
            self._out.flush()
            self._sent.write(json.dumps({"n": len(frame.audio) // 2, "t": time.monotonic()}) + "\n")
            self._sent.flush()
        elif isinstance(frame, TTSAudioRawFrame) and data.first_push:
            n = len(frame.audio) // 2
            self._pcm.write(frame.audio)
            self._pcm.flush()
            self._index.write(json.dumps({"context": frame.context_id, "at": self._samples, "n": n,
                                          "rate": frame.sample_rate, "t": time.monotonic()}) + "\n")
            self._index.flush()
            self._samples += n


def install_tap() -> None:
    """``TtsTap`` on every call of this process (``CB_BENCH_TAP`` names the folder). The runner
    serves calls in worker processes it spawns; each imports this module again as its main
    module (``__mp_main__``), which installs the tap there too (the end of this file)."""
    from cb.runner.calls import hooks

    root = Path(os.environ[TAP_ENV])
    hooks.CALL_OBSERVERS.append(lambda plan: TtsTap(root / plan.call_id))


# ---------------------------------------------------------------------------------- the analysis
def ulaw_to_pcm(ulaw: bytes) -> np.ndarray:
    return np.frombuffer(audioop.ulaw2lin(ulaw, 2), dtype=np.int16)


def g711(pcm: np.ndarray) -> np.ndarray:
    """``pcm`` through mu-law and back: what the best phone line does to it."""
    return ulaw_to_pcm(audioop.lin2ulaw(pcm.astype(np.int16).tobytes(), 2))


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if len(x) else 0.0


def _residual(got: np.ndarray, ref: np.ndarray, at: int) -> float:
    """Energy of ``got - ref[at:]`` relative to ``got``'s (inf where ``ref`` has no such span)."""
    if at < 0 or at + len(got) > len(ref):
        return float("inf")
    g = got.astype(np.float64)
    return float(np.sum((g - ref[at:at + len(got)]) ** 2) / max(np.sum(g ** 2), 1.0))


def _search(got: np.ndarray, ref: np.ndarray, lo: int, hi: int) -> tuple[int, float]:
    """Where in ``ref[lo:hi + len(got)]`` ``got`` fits best (least residual), and the residual."""
    lo, hi = max(0, lo), min(len(ref) - len(got), hi)
    if hi < lo:
        return -1, float("inf")
    g = got.astype(np.float64)
    window = ref[lo:hi + len(g)].astype(np.float64)
    if len(window) > 8 * 4096:  # a long search: by FFT
        n = 1 << int(np.ceil(np.log2(len(window) + len(g))))
        dots = np.fft.irfft(np.fft.rfft(window, n) * np.conj(np.fft.rfft(g, n)), n)[:hi - lo + 1]
    else:
        dots = np.correlate(window, g, mode="valid")
    energy = np.convolve(window ** 2, np.ones(len(g)), mode="valid")
    err = (energy - 2 * dots + np.sum(g ** 2)) / max(np.sum(g ** 2), 1.0)
    best = int(np.argmin(err))
    return lo + best, float(err[best])


@dataclass
class Track:
    """Where each received frame's content is in the reference, and what that says."""

    offsets: list[int | None] = field(default_factory=list)  # reference sample of each received frame
    positions: list[int] = field(default_factory=list)  # the same, or where a silent/foreign frame was due
    dropped: int = 0  # frames of voiced reference the caller never got
    doubled: int = 0  # received frames whose content the caller had already got
    inserted: int = 0  # received frames of silence the reference does not have at that point
    foreign: int = 0  # voiced received frames found nowhere in the reference
    silence_moved: int = 0  # samples of silence skipped or repeated (a pause a little off, not lost voice)
    events: list[dict[str, Any]] = field(default_factory=list)  # each drop/double: frame, samples

    def as_dict(self) -> dict[str, Any]:
        return {"dropped": self.dropped, "doubled": self.doubled, "inserted": self.inserted,
                "foreign": self.foreign, "silence_moved_samples": self.silence_moved, "events": self.events[:20]}


def track(ref: np.ndarray, got: np.ndarray, frame: int = FRAME, window: int = 2 * RATE) -> Track:
    """Follow ``got`` (received audio, frames in arrival order, decoded) through ``ref`` (what the
    TTS produced, the same stream) frame by frame. A frame is first tried where the last voiced
    frame's content continues; where it does not fit, it is searched for within ``window``
    samples, then everywhere. Silent frames are not judged (all silence looks alike); they only
    move the expected place on.

    Between two voiced frames ``jp`` < ``j`` found at reference samples ``op`` and ``o``:
    ``o < op + frame`` is content heard again (doubled), ``o > op + (j - jp) * frame`` is content
    skipped (dropped), anything in between is silence the reference did not have (inserted).
    The voiced reference before the first and after the last received frame is dropped too."""
    out = Track()
    ref = ref.astype(np.int16)
    n = len(got) // frame
    prev: tuple[int, int] | None = None  # (frame index, reference offset) of the last voiced frame
    expected = 0
    for j in range(n):
        g = got[j * frame:(j + 1) * frame]
        out.positions.append(expected)
        if _rms(g) < SILENT_RMS:
            out.offsets.append(None)
            expected += frame
            continue
        at = expected if _residual(g, ref, expected) < MATCH else -1
        if at < 0:
            at, err = _search(g, ref, expected - window, expected + window)
            if err >= MATCH:
                at, err = _search(g, ref, 0, len(ref))
            if err >= MATCH:
                out.foreign += 1
                out.offsets.append(None)
                expected += frame
                continue
        out.offsets.append(at)
        out.positions[-1] = at
        if prev is None:
            lost = _voiced_frames(ref[:at], frame)
            if lost:
                out.dropped += lost
                out.events.append({"frame": j, "kind": "dropped", "samples": at, "where": "start"})
        else:
            jp, op = prev
            # Only voice counts: a padded last frame of a reply overlaps the next reply's leading
            # silence, and silence skipped or repeated is a pause a little shorter or longer.
            if at < op + frame:
                if _rms(ref[at:op + frame]) >= SILENT_RMS:
                    out.doubled += max(1, round((op + frame - at) / frame))
                    out.events.append({"frame": j, "kind": "doubled", "samples": op + frame - at})
                else:
                    out.silence_moved += op + frame - at
            elif at > op + (j - jp) * frame:
                skipped = at - (op + (j - jp) * frame)
                if _rms(ref[at - skipped:at]) >= SILENT_RMS:
                    out.dropped += max(1, round(skipped / frame))
                    out.events.append({"frame": j, "kind": "dropped", "samples": skipped})
                else:
                    out.silence_moved += skipped
            elif at < op + (j - jp) * frame:
                out.inserted += round((op + (j - jp) * frame - at) / frame)
        prev = (j, at)
        expected = at + frame
    if prev is not None:
        lost = _voiced_frames(ref[prev[1] + frame:], frame)
        if lost:
            out.dropped += lost
            out.events.append({"frame": n, "kind": "dropped", "samples": len(ref) - prev[1] - frame,
                               "where": "end"})
    return out


def _voiced_frames(x: np.ndarray, frame: int) -> int:
    return sum(1 for i in range(0, len(x) - frame + 1, frame) if _rms(x[i:i + frame]) >= SILENT_RMS)


def playout(arrivals: list[float], seconds: list[float]) -> dict[str, Any]:
    """Twilio plays a frame from its arrival or from the end of the one before, whichever is later.
    ``start[k]`` is when frame k plays; an underrun is a frame that arrived after the one before
    had finished (the caller hears a gap of that length)."""
    start: list[float] = []
    gaps: list[float] = []
    late: list[tuple[int, float]] = []  # (frame, when the one before finished playing) per underrun
    for k, (t, dur) in enumerate(zip(arrivals, seconds)):
        if k == 0:
            start.append(t)
            continue
        end = start[-1] + seconds[k - 1]
        if t > end + UNDERRUN_S:
            gaps.append(t - end)
            late.append((k, end))
        start.append(max(t, end))
    inter = np.diff(arrivals) * 1000 if len(arrivals) > 1 else np.zeros(0)
    due = np.asarray(seconds[:-1]) * 1000 if len(arrivals) > 1 else np.zeros(0)
    jitter = np.abs(inter - due)
    return {"start": start, "late": late, "underruns": len(gaps), "gap_ms": round(1000 * sum(gaps), 1),
            "max_gap_ms": round(1000 * max(gaps), 1) if gaps else 0.0,
            "jitter_ms": {"p50": _pct(jitter, 50), "p99": _pct(jitter, 99),
                          "max": round(float(jitter.max()), 1) if len(jitter) else None}}


def _pct(x: np.ndarray, q: float) -> float | None:
    return round(float(np.percentile(x, q)), 1) if len(x) else None


def heard(chunks: list[np.ndarray], start: list[float]) -> np.ndarray:
    """The received chunks laid out as the caller hears them: each at its playout time, silence
    in the gaps."""
    if not chunks:
        return np.zeros(0, np.int16)
    pos = [int(round((s - start[0]) * RATE)) for s in start]
    out = np.zeros(pos[-1] + len(chunks[-1]), np.int16)
    for p, c in zip(pos, chunks):
        out[p:p + len(c)] = c
    return out


def pesq_nb(ref: np.ndarray, deg: np.ndarray) -> float | None:
    from pesq import pesq

    n = min(len(ref), len(deg))
    if n < RATE // 4:
        return None
    try:
        return round(float(pesq(RATE, ref[:n].astype(np.float64), deg[:n].astype(np.float64), "nb")), 3)
    except Exception:  # noqa: BLE001 - pesq refuses audio with no speech in it
        return None


# ---------------------------------------------------------------------------------- the call
def utterances(index: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    """(context, first sample, end sample) of each TTS context, in the order it spoke."""
    out: list[list[Any]] = []
    for row in index:
        if out and out[-1][0] == row["context"] and out[-1][2] == row["at"]:
            out[-1][2] = row["at"] + row["n"]
        else:
            out.append([row["context"], row["at"], row["at"] + row["n"]])
    return [tuple(u) for u in out]  # type: ignore[misc]


def analyse(ref: np.ndarray, index: list[dict[str, Any]], messages: list[str], arrivals: list[float],
            out_pcm: np.ndarray | None = None, sent: list[float] | None = None,
            clears: list[float] = ()) -> dict[str, Any]:
    """Figures for one call from the tapped TTS audio (``index``: its frames; ``sent``: when the
    runner's transport wrote each message) and the caller's received messages and ``clear``s.
    Audio skipped right after a ``clear`` was cut by a barge-in, not dropped: it counts apart."""
    chunks, fields = [], set()
    for raw in messages:
        msg = json.loads(raw)
        media = msg.get("media") or {}
        fields |= {k for k in ("sequenceNumber", "timestamp", "chunk") if k in msg or k in media}
        chunks.append(ulaw_to_pcm(base64.b64decode(media.get("payload", ""))))
    got = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
    seconds = [len(c) / RATE for c in chunks]
    result: dict[str, Any] = {
        "reference_s": round(len(ref) / RATE, 1), "received_s": round(len(got) / RATE, 1),
        "messages": len(messages), "message_ms": sorted({round(1000 * s) for s in seconds}),
        "sequence_fields": sorted(fields)}
    if out_pcm is not None:
        result["transport_wrote_s"] = round(len(out_pcm) / RATE, 1)
    # Frames by content: the whole call's agent audio is one stream, in both recordings.
    t = track(ref, got)
    chunk_of = np.repeat(np.arange(len(chunks)), [len(c) // FRAME for c in chunks]) if chunks else np.zeros(0, int)
    for e in t.events:
        if e["kind"] != "dropped" or e.get("where") == "start" or not len(chunk_of):
            continue
        after = arrivals[chunk_of[min(e["frame"], len(chunk_of)) - 1]]
        until = arrivals[chunk_of[e["frame"]]] if e["frame"] < len(chunk_of) else float("inf")
        if any(after <= c <= until for c in clears):
            count = max(1, round(e["samples"] / FRAME))
            e["kind"] = "cut by a clear"
            t.dropped -= count
            result["cut_by_clear_frames"] = result.get("cut_by_clear_frames", 0) + count
    result["content"] = t.as_dict()
    # Which reply each received chunk belongs to: where its first voiced frame was found.
    first_frame = np.cumsum([0] + [len(c) for c in chunks])[:-1] // FRAME
    spans = utterances(index)
    owner: list[int | None] = []
    for k, c in enumerate(chunks):
        found = [t.offsets[f] for f in range(first_frame[k], min(len(t.offsets), first_frame[k] + max(1, len(c) // FRAME)))
                 if t.offsets[f] is not None]
        owner.append(next((u for u, (_, a, b) in enumerate(spans) if found and a <= found[0] < b), None))
    # A silent chunk belongs to the reply of the voiced chunk it came with (in the same burst of
    # arrivals): the one before it, else the one after it.
    for k in range(1, len(owner)):
        if owner[k] is None and arrivals[k] - arrivals[k - 1] < 0.5:
            owner[k] = owner[k - 1]
    for k in range(len(owner) - 2, -1, -1):
        if owner[k] is None and arrivals[k + 1] - arrivals[k] < 0.5:
            owner[k] = owner[k + 1]
    per: list[dict[str, Any]] = []
    all_gaps = {"underruns": 0, "gap_ms": 0.0}
    all_causes = {"tts": 0, "transport": 0, "delivery": 0}
    jitters: list[float] = []
    for u, (_, a, b) in enumerate(spans):
        ks = [k for k, o in enumerate(owner) if o == u]
        row: dict[str, Any] = {"seconds": round((b - a) / RATE, 1), "chunks": len(ks)}
        if ks:
            p = playout([arrivals[k] for k in ks], [seconds[k] for k in ks])
            row.update({k: p[k] for k in ("underruns", "gap_ms", "max_gap_ms", "jitter_ms")})
            all_gaps["underruns"] += p["underruns"]
            all_gaps["gap_ms"] += p["gap_ms"]
            jitters += list(np.abs(np.diff([arrivals[k] for k in ks]) * 1000 - np.asarray([seconds[k] for k in ks[:-1]]) * 1000))
            # Each underrun: the TTS made that audio after it was due (slower than real time), or
            # the runner's transport wrote it after it was due, or it was written in time and
            # reached the caller late (the caller's own share of the CPU: a bench artefact).
            causes = {"tts": 0, "transport": 0, "delivery": 0}
            detail = []
            for i, due in p["late"]:
                made = produced_at(index, t.positions[min(first_frame[ks[i]], len(t.positions) - 1)])
                wrote = sent[ks[i]] if sent is not None and len(sent) == len(chunks) else None
                if made is not None:
                    cause = "tts" if made > due else "transport" if wrote is None or wrote > due else "delivery"
                    causes[cause] += 1
                    detail.append({"at_s": round(arrivals[ks[i]] - arrivals[ks[0]], 2),
                                   "gap_ms": round(1000 * (arrivals[ks[i]] - due), 1),
                                   "made_before_due_ms": round(1000 * (due - made), 1),
                                   "written_before_due_ms": None if wrote is None else round(1000 * (due - wrote), 1)})
            row["underrun_causes"] = causes
            row["underrun_detail"] = detail[:30]
            for cause, n in causes.items():
                all_causes[cause] += n
            # Line the received audio up with the reply: where its first voiced frame was found.
            f0 = first_frame[ks[0]]
            first = next((f for f in range(f0, len(t.offsets)) if t.offsets[f] is not None), None)
            shift = t.offsets[first] - a - (first - f0) * FRAME if first is not None else 0
            ref_u = ref[a:b]
            for key, deg in (("pesq_nb", heard([chunks[k] for k in ks], p["start"])),
                             ("pesq_nb_content", np.concatenate([chunks[k] for k in ks]))):
                deg = deg[-shift:] if shift < 0 else np.concatenate([np.zeros(shift, np.int16), deg])
                row[key] = pesq_nb(ref_u, deg)
            row["g711_ceiling"] = pesq_nb(ref_u, g711(ref_u))
        per.append(row)
    scores = [r["pesq_nb"] for r in per if r.get("pesq_nb") is not None]
    content = [r["pesq_nb_content"] for r in per if r.get("pesq_nb_content") is not None]
    ceilings = [r["g711_ceiling"] for r in per if r.get("g711_ceiling") is not None]
    jit = np.asarray(jitters)
    result.update({
        "utterances": per,
        "pesq_nb": {"median": _median(scores), "min": min(scores) if scores else None, "n": len(scores)},
        "pesq_nb_content": {"median": _median(content), "min": min(content) if content else None},
        "g711_ceiling": {"median": _median(ceilings)},
        "underrun_causes": all_causes,
        "dropped_frames": t.dropped, "doubled_frames": t.doubled,
        "underruns": all_gaps["underruns"], "gap_ms": round(all_gaps["gap_ms"], 1),
        "jitter_ms": {"p50": _pct(jit, 50), "p99": _pct(jit, 99), "max": round(float(jit.max()), 1) if len(jit) else None},
        "unplaced_chunks": sum(1 for o in owner if o is None)})
    return result


def produced_at(index: list[dict[str, Any]], sample: int) -> float | None:
    """When the TTS pushed the frame holding reference ``sample`` (None without times)."""
    import bisect

    i = bisect.bisect_right([row["at"] for row in index], sample) - 1
    return index[i].get("t") if 0 <= i < len(index) else None


def _median(x: list[float]) -> float | None:
    return round(float(np.median(x)), 3) if x else None


def measure(quick: bool) -> dict[str, Any]:
    import tempfile

    from . import voice
    from .caller import BenchCaller, Step
    from .place import run
    from .stack import NUMBER, Stack

    class Listener(BenchCaller):
        """The bench caller, keeping every agent message it received (parsed after the call)."""

        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.messages: list[str] = []

        def _media(self, raw: str, now: float) -> None:
            self.messages.append(raw)

    replies = (QUICK_REPLY,) if quick else REPLIES
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="cb-bench-tap-") as tap:
        # Admission would refuse the call (and readiness) on loaded cores: this bench wants the call.
        env = {TAP_ENV: tap, "CB_ADMISSION": "off", "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
        pipeline = {"stt": {"provider": "scripted", "options": {"delay_ms": 150}}, "tts": {"provider": "piper"}}
        script = {"turns": [{"say": r} for r in replies], "default": "Goodbye.", "first_token_ms": 0}
        with Stack(pipeline=pipeline, llm_script=script, greeting=GREETING, env=env,
                   runner_module="bench.quality") as stack:
            steps = [Step("turn", voice.spoken(CALLER_LINE), pause_ms=500) for _ in replies]
            # The caller answers once the agent has been quiet 4 s: on loaded cores a reply can
            # stall for 2 s, and speaking into it would be a barge-in (counted apart if it happens).
            caller = Listener(stack.url, stack.token, NUMBER, steps, quiet_ms=4000, step_timeout=180)
            trace = run(caller.run())
            log_tail = stack.log.read_text()[-3000:]
        folder = Path(tap) / (trace.call_id or "none")
        if trace.refused or not (folder / "tts.pcm").exists() or not caller.messages:
            return {"error": trace.error or trace.refused or "the runner tapped no TTS audio",
                    "tapped": sorted(str(p.relative_to(tap)) for p in Path(tap).rglob("*")), "runner_log": log_tail}
        keep = RESULTS / "quality"  # the raw call, to analyse again: python -m bench.quality --again
        shutil.rmtree(keep, ignore_errors=True)
        shutil.copytree(folder, keep)
        (keep / "caller.json").write_text(json.dumps({"messages": caller.messages, "arrivals": trace.media_at,
                                                      "clears": trace.clear_at, "call_s": trace.ended - trace.started}))
        ref = np.fromfile(folder / "tts.pcm", dtype="<i2")
        index = [json.loads(line) for line in (folder / "tts.jsonl").read_text().splitlines()]
        out_pcm = np.fromfile(folder / "out.pcm", dtype="<i2")
        sent = [json.loads(line)["t"] for line in (folder / "out.jsonl").read_text().splitlines()]
    rates = sorted({row["rate"] for row in index})
    if rates != [RATE]:
        return {"error": f"the TTS pushed audio at {rates} Hz, not {RATE}"}
    result = analyse(ref, index, caller.messages, trace.media_at, out_pcm, sent, trace.clear_at)
    result["clears"] = len(trace.clear_at)
    result["call_s"] = round(trace.ended - trace.started, 1)
    if trace.error:  # the call went wrong part-way (a reply never came): what was heard still counts
        result["caller_error"] = trace.error
    result["targets"] = {
        "pesq_nb.median": {"limit": ">= ceiling - 0.1", "value": result["pesq_nb"]["median"],
                           "met": _near(result["pesq_nb"]["median"], result["g711_ceiling"]["median"])},
        "dropped_frames": {"limit": 0, "value": result["dropped_frames"], "met": result["dropped_frames"] == 0},
        "doubled_frames": {"limit": 0, "value": result["doubled_frames"], "met": result["doubled_frames"] == 0},
        "underruns": {"limit": 0, "value": result["underruns"], "met": result["underruns"] == 0}}
    return result


def again(folder: Path = None) -> dict[str, Any]:
    """The figures of the last call kept under bench/results/quality, computed again."""
    folder = folder or RESULTS / "quality"
    caller = json.loads((folder / "caller.json").read_text())
    index = [json.loads(line) for line in (folder / "tts.jsonl").read_text().splitlines()]
    sent = [json.loads(line)["t"] for line in (folder / "out.jsonl").read_text().splitlines()]
    return analyse(np.fromfile(folder / "tts.pcm", dtype="<i2"), index, caller["messages"], caller["arrivals"],
                   np.fromfile(folder / "out.pcm", dtype="<i2"), sent, caller["clears"])


def _near(score: float | None, ceiling: float | None) -> bool:
    return score is not None and ceiling is not None and score >= ceiling - 0.1


def main(quick: bool = False) -> dict[str, Any]:
    return measure(quick)


if __name__ in ("__main__", "__mp_main__") and os.environ.get(TAP_ENV):
    install_tap()
if __name__ == "__main__":
    if sys.argv[1:2] == ["runner"]:  # `cb runner` with the tap: Stack(runner_module="bench.quality")
        from cb.cli import main as cb_main

        # One call needs one worker process: a second only slows the start on shared cores.
        sys.argv += [] if "--workers" in sys.argv else ["--workers", "1"]
        cb_main()
    else:
        import pprint

        pprint.pprint(again() if "--again" in sys.argv else main("--quick" in sys.argv))
