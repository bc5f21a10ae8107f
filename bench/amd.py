"""Answering-machine detection on the local path: how often the detector is right, and how fast.

    .venv/bin/python bench/amd.py            # 22 simulated callees; JSON to bench/results/amd.json

Each callee is what the runner's detector (cb.runner.calls.amd) hears on an outbound call, in
20 ms frames of 8 kHz audio from the moment of answer: Piper speech through G.711 mu-law (the
wire), persons with short and long greetings, machines with and without a beep, and silence.
Words come as the runner's segmented speech-to-text gives them: each utterance (ended by 300 ms
of silence, the VAD's stop) is transcribed by the bundled Whisper and delivered at the utterance's
end plus the VAD's stop plus Whisper's own measured time. Time is simulated, so the figures are
the detector's decisions, not this machine's load; Whisper's time is the real one.

Reported: right/wrong per kind (a person must be ``human``, a machine ``machine_*``, silence
``unknown``); for persons, verdict latency after the end of their greeting; for machines with a
beep, latency of ``machine_end_beep`` after the end of the beep (target: within 300 ms).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cb.plugins.local import speech  # noqa: E402
from cb.runner.calls.amd import FRAME, Detector  # noqa: E402

RATE = 8000
PERSONS_SHORT = ["Hello?", "Hi.", "Yes?", "Hello, Maria speaking.", "Hey, who's this?", "Hello, hello?"]
PERSONS_LONG = [
    "Hi, this is Maria Gomez speaking, who am I talking to please?",
    "Good afternoon, Bright Smile Dental front desk, this is Sam, how can I help you today?",
    "Hello, yes, this is the Johnson residence, who is calling and what is this about?",
    "Hey there, you got Mike, I'm driving right now so make it quick, what's up?",
]
MACHINES = [
    "Hi, you've reached Maria. I can't take your call right now. Please leave a message after the tone.",
    "The person you are calling is not available. Please record your message after the beep.",
    "Hello, you have reached the Johnson family. We're away from the phone. Leave your name and number.",
    "This is Sam. Sorry I missed you. Leave a message and I will get back to you.",
    "You've reached the voicemail of Dr. Lee. Please leave a message.",
    "Thanks for calling. No one is available to take your call. Please leave a message after the tone.",
    "Hi, it's Ann. I can't come to the phone right now. Leave me a message.",
    "The mailbox of five five five, zero one nine nine is not available. Record your message at the tone.",
    "Hey, it's Tom, leave a message.",
    "You have reached Bright Smile Dental. Our office is closed. Please leave a message and we will return your call.",
]


def wire(pcm: np.ndarray) -> np.ndarray:
    """Through G.711 and back, as the runner hears it."""
    return np.frombuffer(speech.ulaw_decode(speech.ulaw_encode(pcm.astype(np.int16).tobytes())), dtype=np.int16)


def say(text: str) -> np.ndarray:
    return speech.voiced(np.frombuffer(speech.synthesize(text), dtype=np.int16))


def tone(hz: int, ms: int) -> np.ndarray:
    t = np.arange(int(RATE * ms / 1000)) / RATE
    return (np.sin(2 * np.pi * hz * t) * 32767 * 0.3).astype(np.int16)


def silence(ms: int) -> np.ndarray:
    return np.zeros(int(RATE * ms / 1000), dtype=np.int16)


def callees() -> list[dict]:
    out = []
    rng = np.random.default_rng(12)
    for text in PERSONS_SHORT + PERSONS_LONG:
        lead = int(rng.integers(200, 900))
        voice = say(text)
        out.append({"kind": "person", "text": text, "audio": np.concatenate([silence(lead), voice, silence(8000)]),
                    "greeting_end_ms": lead + len(voice) * 1000 / RATE})
    for i, text in enumerate(MACHINES):
        lead, voice = int(rng.integers(200, 700)), say(text)
        end = lead + len(voice) * 1000 / RATE
        if i < 6:  # with a beep, at several gaps and pitches
            gap, hz, ms = [300, 600, 1000, 500, 800, 400][i], [1000, 1400, 1800, 1200, 1950, 1500][i], [300, 500, 800, 400, 600, 1000][i]
            audio = np.concatenate([silence(lead), voice, silence(gap), tone(hz, ms), silence(8000)])
            out.append({"kind": "machine", "text": text, "audio": audio, "beep_end_ms": end + gap + ms,
                        "greeting_end_ms": end})
        else:
            out.append({"kind": "machine", "text": text, "audio": np.concatenate([silence(lead), voice, silence(8000)]),
                        "greeting_end_ms": end})
    out += [{"kind": "silence", "text": "", "audio": silence(8000)} for _ in range(2)]
    return out


def run_one(callee: dict, stop_ms: int = 300) -> dict:
    audio = wire(callee["audio"])
    det = Detector()
    verdicts: list[tuple[str, float]] = []
    pending_words: list[tuple[float, str]] = []  # (deliver at ms, text)
    seg_start, quiet = None, 0
    for i in range(0, len(audio) - FRAME + 1, FRAME):
        now = (i + FRAME) * 1000 / RATE
        frame = audio[i:i + FRAME]
        for due, text in [w for w in pending_words if w[0] <= now]:
            pending_words.remove((due, text))
            v = det.words(text)
            if v:
                verdicts.append((v, due))
        v = det.frame(frame.tobytes())
        if v:
            verdicts.append((v, now))
        loud = np.sqrt(np.mean(frame.astype(np.float64) ** 2)) >= 400
        if loud:
            seg_start = i if seg_start is None else seg_start
            quiet = 0
        elif seg_start is not None:
            quiet += 20
            if quiet >= stop_ms:  # the VAD's stop: the segmented STT transcribes this utterance
                t0 = time.perf_counter()
                text = speech.transcribe(audio[seg_start:i + FRAME].tobytes())
                pending_words.append((now + (time.perf_counter() - t0) * 1000, text))
                seg_start = None
        if det.final:
            break
    final = verdicts[-1][0] if verdicts else None
    right = {"person": final == "human", "machine": bool(final and final.startswith("machine")),
             "silence": final == "unknown"}[callee["kind"]]
    first_machine = next((t for v, t in verdicts if v.startswith("machine")), None)
    result = {"kind": callee["kind"], "text": callee["text"], "verdicts": verdicts, "final": final, "right": right}
    if callee["kind"] == "person" and final == "human":
        result["after_greeting_ms"] = round(verdicts[-1][1] - callee["greeting_end_ms"])
    if "beep_end_ms" in callee:
        beep = next((t for v, t in verdicts if v == "machine_end_beep"), None)
        result["after_beep_ms"] = None if beep is None else round(beep - callee["beep_end_ms"])
    if callee["kind"] == "machine":
        result["machine_after_answer_ms"] = first_machine
        result["spoke_over_greeting"] = bool(final and final.startswith("machine_end")
                                             and verdicts[-1][1] < callee["greeting_end_ms"])
    return result


def main() -> int:
    results = [run_one(c) for c in callees()]
    by_kind: dict[str, list[dict]] = {}
    for r in results:
        by_kind.setdefault(r["kind"], []).append(r)
    summary = {k: f"{sum(r['right'] for r in v)}/{len(v)}" for k, v in by_kind.items()}
    human_ms = [r["after_greeting_ms"] for r in results if "after_greeting_ms" in r]
    beep_ms = [r["after_beep_ms"] for r in results if r.get("after_beep_ms") is not None]
    report = {"callees": len(results), "right": sum(r["right"] for r in results), "by_kind": summary,
              "human_verdict_after_greeting_ms": {"median": float(np.median(human_ms)), "max": max(human_ms)},
              "beep_verdict_after_beep_end_ms": {"median": float(np.median(beep_ms)), "max": max(beep_ms)},
              "spoke_over_a_greeting": sum(r.get("spoke_over_greeting", False) for r in results),
              "results": results}
    for r in results:
        print(f"{'ok ' if r['right'] else 'BAD'} {r['kind']:<8} {str(r['final']):<20} "
              f"{str(r.get('after_greeting_ms', r.get('after_beep_ms', ''))):>6}  {r['text'][:60]}")
    print(f"\nright {report['right']}/{len(results)} ({summary}); person verdict after greeting "
          f"median {report['human_verdict_after_greeting_ms']['median']:.0f} ms, max {max(human_ms)} ms; "
          f"beep verdict after beep end median {report['beep_verdict_after_beep_end_ms']['median']:.0f} ms, "
          f"max {max(beep_ms)} ms; spoke over a greeting: {report['spoke_over_a_greeting']}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "amd.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
