from __future__ import annotations

import json
import wave

import numpy as np

from cb.runner.postcall.recording import Transcript, TwoChannelRecorder

RATE = 16000
FRAME = RATE // 50  # 20 ms


def tone(freq: float, seconds: float, rate: int = RATE) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * 8000).astype("<i2").tobytes()


def read(path):
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, RATE)
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    return data[:, 0], data[:, 1]


def loud(channel, start: float, end: float) -> float:
    part = channel[int(start * RATE):int(end * RATE)].astype(float)
    return float(np.sqrt(np.mean(part ** 2))) if len(part) else 0.0


def test_caller_left_agent_right_aligned_by_when_each_was_heard(tmp_path):
    rec = TwoChannelRecorder(tmp_path / "rec.wav", RATE, clock=lambda: 0.0)
    rec.start(at=100.0)
    caller = tone(440, 2.0)
    agent_burst = tone(880, 0.5)
    for i in range(100):  # 2 s of caller audio, one 20 ms frame at a time
        at = 100.0 + i * 0.02
        rec.caller(caller[i * FRAME * 2:(i + 1) * FRAME * 2], at=at)
        if i == 25:  # the agent speaks at 0.5 s, its whole reply arriving at once (TTS burst)
            rec.agent(agent_burst, at=at)
    assert rec.close() == 2.0
    left, right = read(tmp_path / "rec.wav")
    assert len(left) == 2 * RATE
    assert loud(left, 0, 2) > 3000
    assert loud(right, 0, 0.49) == 0 and loud(right, 0.51, 0.99) > 3000 and loud(right, 1.01, 2) == 0
    # the agent's audio lands exactly at 0.5 s, not at the byte offset it would have had
    first = int(np.argmax(np.abs(right) > 0))
    assert abs(first - int(0.5 * RATE)) <= 2


def test_the_file_is_written_as_the_call_goes_not_at_the_end(tmp_path):
    rec = TwoChannelRecorder(tmp_path / "rec.wav", RATE, lag_sec=0.5)
    for i in range(150):  # 3 s of caller audio, the agent silent throughout
        rec.caller(b"\x01\x00" * FRAME, at=i * 0.02)
    # on disk: all but the last lag (0.5 s) + batch (0.5 s)
    assert rec._written >= int(2.0 * RATE), "a silent agent channel must not hold the caller's audio in memory"
    rec.close()


def test_agent_audio_at_another_sample_rate_is_resampled(tmp_path):
    rec = TwoChannelRecorder(tmp_path / "rec.wav", RATE)
    rec.agent(tone(300, 1.0, rate=24000), sample_rate=24000, at=0.0)
    assert rec.close() == 1.0
    left, right = read(tmp_path / "rec.wav")
    assert loud(left, 0, 1) == 0 and loud(right, 0, 1) > 3000


def test_a_transcript_keeps_speaker_times_and_interruptions(tmp_path):
    now = [0.0]
    tr = Transcript(clock=lambda: now[0])
    tr.begin("agent", at=0.0)
    tr.text("agent", "Thanks for calling Acme Dental.", at=0.4)
    tr.end("agent", at=1.8)
    tr.text("caller", "I'd like to book", at=2.0)
    tr.text("caller", "a cleaning.", at=3.1)
    tr.end("caller", at=3.2)
    tr.text("agent", "Of course, what day", at=3.5)
    tr.end("agent", at=4.0, interrupted=True)
    tr.begin("caller", at=4.1)
    tr.end("caller", at=4.2)  # a turn with no words is not kept
    turns = tr.close()
    assert [(t["speaker"], t["text"], t["start"], t["end"], t["interrupted"]) for t in turns] == [
        ("agent", "Thanks for calling Acme Dental.", 0.0, 1.8, False),
        ("caller", "I'd like to book a cleaning.", 2.0, 3.2, False),
        ("agent", "Of course, what day", 3.5, 4.0, True),
    ]
    assert json.loads(tr.write(tmp_path / "t.json").read_text()) == turns


def test_a_backlog_burst_at_the_start_is_placed_when_it_was_spoken_not_after_a_gap(tmp_path):
    # The caller streamed for 1.2 s before the pipeline read anything: 60 frames arrive at once.
    rec = TwoChannelRecorder(tmp_path / "rec.wav", RATE)
    rec.start(at=0.0)
    speech = tone(440, 0.02)
    for i in range(60):
        rec.caller(speech if i == 10 else b"\x00\x00" * FRAME, at=1.2 + i * 0.0001)
    for i in range(60, 200):  # then in real time
        rec.caller(speech if i == 150 else b"\x00\x00" * FRAME, at=i * 0.02)
    rec.agent(tone(880, 0.02), at=3.0)
    rec.close()
    left, right = read(tmp_path / "rec.wav")
    assert len(left) == 4 * RATE, "4 s of call, not 4 s plus the backlog"
    assert abs(int(np.argmax(np.abs(left) > 0)) - int(0.2 * RATE)) <= FRAME, "the burst is not pushed later"
    assert loud(left, 2.99, 3.03) > 3000 and loud(right, 2.99, 3.03) > 3000, "both sides stay aligned"
