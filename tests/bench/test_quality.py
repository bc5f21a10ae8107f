"""The call-quality counters find exactly the frames that were dropped, doubled or late (no runner).

The reference is deterministic speech-like audio (seeded noise bursts with pauses between, as
Piper's sentences have); the received side is that audio through G.711, cut into 20 ms Media
Streams messages, with frames removed, repeated or held back on purpose.
"""

from __future__ import annotations

import audioop
import base64
import json

import numpy as np

from bench import quality

F = quality.FRAME


def speechlike(seconds: float, seed: int = 3) -> np.ndarray:
    """Bursts of 120-400 ms of shaped noise with 60-200 ms pauses of silence between them."""
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    while sum(len(x) for x in out) < seconds * quality.RATE:
        n = int(rng.integers(120, 400)) * 8
        burst = np.convolve(rng.normal(0, 1, n), np.ones(4) / 4, mode="same") * np.hanning(n) * 9000
        out += [burst, np.zeros(int(rng.integers(60, 200)) * 8)]
    x = np.concatenate(out)[: int(seconds * quality.RATE)]
    return x.clip(-32000, 32000).astype(np.int16)


def frames_of(pcm: np.ndarray) -> list[np.ndarray]:
    pcm = pcm[: len(pcm) // F * F]
    return [quality.g711(pcm[i:i + F]) for i in range(0, len(pcm), F)]


def voiced(frames: list[np.ndarray], start: int) -> int:
    """The first frame from ``start`` on that is clearly voiced (and whose neighbours are too)."""
    loud = [quality._rms(f) > 1000 for f in frames]
    return next(i for i in range(start, len(frames) - 1) if loud[i - 1] and loud[i] and loud[i + 1])


def test_audio_that_arrives_whole_counts_nothing():
    ref = speechlike(6)
    t = quality.track(ref, np.concatenate(frames_of(ref)))
    assert (t.dropped, t.doubled, t.inserted, t.foreign) == (0, 0, 0, 0)
    found = [o for o in t.offsets if o is not None]
    assert found and all(o % F == 0 for o in found)
    assert [i * F for i, o in enumerate(t.offsets) if o is not None] == found


def test_a_removed_frame_is_dropped_and_a_repeated_one_doubled():
    ref = speechlike(6)
    frames = frames_of(ref)
    gone, again = voiced(frames, 40), voiced(frames, 150)
    got = frames[:gone] + frames[gone + 1:again + 1] + [frames[again]] + frames[again + 1:]
    t = quality.track(ref, np.concatenate(got))
    assert (t.dropped, t.doubled, t.inserted, t.foreign) == (1, 1, 0, 0)
    assert [(e["kind"], e["frame"], e["samples"]) for e in t.events] == [
        ("dropped", gone, F), ("doubled", again, F)]  # received index: one frame gone before it


def test_three_frames_dropped_at_once_count_three():
    ref = speechlike(4, seed=5)
    frames = frames_of(ref)
    gone = voiced(frames, 60)
    t = quality.track(ref, np.concatenate(frames[:gone] + frames[gone + 3:]))
    assert (t.dropped, t.doubled) == (3, 0)


def test_silence_put_in_mid_reply_is_inserted_not_doubled():
    ref = speechlike(4, seed=9)
    frames = frames_of(ref)
    at = voiced(frames, 50)
    got = frames[:at] + [np.zeros(F, np.int16)] * 2 + frames[at:]
    t = quality.track(ref, np.concatenate(got))
    assert (t.dropped, t.doubled, t.inserted) == (0, 0, 2)


def test_silence_skipped_or_repeated_moves_a_pause_and_is_not_a_lost_frame():
    ref = speechlike(4, seed=13)
    frames = frames_of(ref)
    quiet = [i for i in range(1, len(frames) - 1) if not frames[i].any()]
    a, b = quiet[3], quiet[-3]  # two silent frames in pauses between bursts
    got = frames[:a] + frames[a + 1:b + 1] + [frames[b]] + frames[b + 1:]
    t = quality.track(ref, np.concatenate(got))
    assert (t.dropped, t.doubled) == (0, 0)
    assert t.silence_moved == F  # the skipped one; a repeated silent frame is silence inserted
    assert t.inserted == 1


def test_a_lost_end_of_a_reply_is_dropped():
    ref = speechlike(3, seed=11)
    frames = frames_of(ref)
    last = max(i for i, f in enumerate(frames) if quality._rms(f) >= quality.SILENT_RMS)
    t = quality.track(ref, np.concatenate(frames[:last]))
    assert t.dropped == 1 and t.events[-1]["where"] == "end"


def test_a_frame_that_arrives_after_the_one_before_has_played_is_an_underrun():
    arrivals = [0.0, 0.0, 0.02, 0.04, 0.13, 0.14, 0.16]  # two back to back, then one 70 ms late
    p = quality.playout(arrivals, [0.02] * len(arrivals))
    assert p["underruns"] == 1
    assert p["gap_ms"] == 50.0  # frame 3 (t=0.04) played to 0.08; frame 4 arrived at 0.13
    assert p["start"][4] == 0.13 and p["start"][5] == 0.15
    assert quality.playout([0.0, 0.0, 0.0, 0.01], [0.02] * 4)["underruns"] == 0


def test_one_call_end_to_end_from_messages():
    """Two replies (TTS contexts); the caller got a frame short in the first and one frame twice in
    the second, and the second's frames came in late once."""
    a, b = speechlike(3, seed=1), speechlike(3, seed=2)
    ref = np.concatenate([a, b])
    index = [{"context": "c1", "at": 0, "n": len(a), "rate": 8000, "t": 0.9},
             {"context": "c2", "at": len(a), "n": len(b), "rate": 8000, "t": 9.9}]
    fa, fb = frames_of(a), frames_of(b)
    gone, again = voiced(fa, 30), voiced(fb, 40)
    fa = fa[:gone] + fa[gone + 1:]
    fb = fb[:again + 1] + [fb[again]] + fb[again + 1:]
    messages, arrivals = [], []
    for k, f in enumerate(fa):
        arrivals.append(1.0 + k * 0.02)
    for k, f in enumerate(fb):
        arrivals.append(10.0 + k * 0.02 + (0.1 if k >= 70 else 0.0))  # held back 100 ms once
    for f in fa + fb:
        payload = base64.b64encode(audioop.lin2ulaw(f.tobytes(), 2)).decode()
        messages.append(json.dumps({"event": "media", "streamSid": "MZ1", "media": {"payload": payload}}))
    r = quality.analyse(ref, index, messages, arrivals)
    assert (r["dropped_frames"], r["doubled_frames"]) == (1, 1)
    assert [u["chunks"] for u in r["utterances"]] == [len(fa), len(fb)]
    assert [u["underruns"] for u in r["utterances"]] == [0, 1]
    assert r["utterances"][1]["gap_ms"] == 100.0
    assert r["sequence_fields"] == [] and r["message_ms"] == [20] and r["unplaced_chunks"] == 0
    assert r["underrun_causes"] == {"tts": 0, "transport": 1, "delivery": 0}  # the audio was there 1.5 s before
    # The same arrivals, but the TTS made the second half of reply 2 only after it was due.
    split = len(a) + 60 * F
    index[1:] = [{"context": "c2", "at": len(a), "n": split - len(a), "rate": 8000, "t": 9.9},
                 {"context": "c2", "at": split, "n": len(ref) - split, "rate": 8000, "t": 11.45}]
    r = quality.analyse(ref, index, messages, arrivals)
    assert r["underrun_causes"] == {"tts": 1, "transport": 0, "delivery": 0}
    assert len(r["utterances"]) == 2  # one context, two index rows: one reply
    # The runner wrote the held-back message at 11.39, before it was due (11.40): the caller got it late.
    r = quality.analyse(ref, index[:1] + [dict(index[1], n=len(b), t=9.9)], messages, arrivals,
                        sent=[x - 0.05 if x < 11.49 else 11.39 for x in arrivals])
    assert r["underrun_causes"] == {"tts": 0, "transport": 0, "delivery": 1}
    # A clear between the frame before the gap and the one after it: a barge-in cut, not a drop.
    r = quality.analyse(ref, index, messages, arrivals, clears=[arrivals[gone - 1] + 0.01])
    assert (r["dropped_frames"], r["cut_by_clear_frames"], r["doubled_frames"]) == (0, 1, 1)


def test_pesq_sees_the_g711_line_and_a_damaged_one():
    from cb.plugins.local import speech

    ref = np.frombuffer(speech.synthesize("The quick brown fox jumps over the lazy dog, twice."), np.int16)
    ceiling = quality.pesq_nb(ref, quality.g711(ref))
    assert 4.0 < ceiling < 4.6
    damaged = quality.g711(ref).copy()
    for i in range(0, len(damaged), 8 * F):  # every eighth frame lost to silence
        damaged[i:i + F] = 0
    assert quality.pesq_nb(ref, damaged) < ceiling - 0.5
