"""The local answering-machine detector on synthetic audio: beeps, cadence, words, silence."""

from __future__ import annotations

import numpy as np

from cb.runner.calls.amd import FRAME, Detector

RATE = 8000


def noise(ms: int, seed: int = 1) -> np.ndarray:
    """Speech-like: broadband noise at a voice's level (no single tone holds its energy)."""
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 3000, int(RATE * ms / 1000))).astype(np.int16)


def tone(hz: float, ms: int) -> np.ndarray:
    t = np.arange(int(RATE * ms / 1000)) / RATE
    return (np.sin(2 * np.pi * hz * t) * 9000).astype(np.int16)


def quiet(ms: int) -> np.ndarray:
    return np.zeros(int(RATE * ms / 1000), dtype=np.int16)


def feed(det: Detector, audio: np.ndarray, words: dict[int, str] | None = None) -> list[tuple[str, int]]:
    out = []
    for i in range(0, len(audio) - FRAME + 1, FRAME):
        at = (i + FRAME) * 1000 // RATE
        for due, text in list((words or {}).items()):
            if due <= at:
                words.pop(due)
                if (v := det.words(text)):
                    out.append((v, at))
        if (v := det.frame(audio[i:i + FRAME].tobytes())):
            out.append((v, at))
    return out


def test_a_short_answer_then_silence_is_a_person_within_half_a_second():
    verdicts = feed(Detector(), np.concatenate([quiet(300), noise(600), quiet(2000)]))
    assert verdicts == [("human", 1400)]


def test_a_beep_ends_a_greeting_at_its_end_whatever_its_pitch():
    for hz in (1000, 1337, 1800, 2000):
        audio = np.concatenate([quiet(200), noise(3000), quiet(500), tone(hz, 500), quiet(1000)])
        verdicts = feed(Detector(), audio, {3300: "please leave a message after the tone"})
        assert verdicts[-1][0] == "machine_end_beep", (hz, verdicts)
        assert 0 <= verdicts[-1][1] - 4200 <= 40  # the beep ended at 4200 ms


def test_a_long_greeting_without_machine_words_is_a_person_and_with_them_a_machine():
    person = np.concatenate([quiet(200), noise(3000), quiet(2000)])
    # words come from a segmented STT after the utterance ends (VAD stop + transcription)
    assert feed(Detector(), person, {3900: "hi this is maria who's calling"}) == [("human", 3900)]
    machine = np.concatenate([quiet(200), noise(3000), quiet(4000)])
    verdicts = feed(Detector(), machine, {3900: "I can't take your call right now"})
    assert [v for v, _ in verdicts] == ["machine_start", "machine_end_silence"]


def test_silence_is_unknown_after_five_seconds_and_a_tone_is_not_speech():
    assert feed(Detector(), quiet(6000)) == [("unknown", 5000)]
    det = Detector()
    assert feed(det, np.concatenate([tone(1400, 60), quiet(100)])) == []  # a click of tone is no beep


def test_a_first_segment_without_machine_words_does_not_make_a_long_greeting_a_person():
    # A busy runner transcribes late: the greeting's first segment ("Hi, you've reached Maria",
    # heard without its machine words) arrives after the greeting ended, the rest later still.
    machine = np.concatenate([quiet(200), noise(5000), quiet(500), tone(1400, 500), quiet(1000)])
    words = {5900: "hi you reached maria", 6100: "i can't take your call right now please leave a message"}
    assert [v for v, _ in feed(Detector(), machine, words)] == ["machine_start", "machine_end_beep"]


def test_a_long_greeting_whose_words_never_cover_it_is_a_machine_by_length():
    machine = np.concatenate([quiet(200), noise(5000), quiet(3000)])
    assert [v for v, _ in feed(Detector(), machine, {5900: "hi maria"})] == ["machine_start", "machine_end_silence"]


def test_a_long_personal_answer_heard_while_it_was_said_is_a_person():
    person = np.concatenate([quiet(200), noise(3000), quiet(2500)])
    words = {2000: "hi this is maria gomez speaking", 3000: "who am i talking to"}
    assert feed(Detector(), person, words) == [("human", 4900)]
