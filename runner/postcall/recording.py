"""Per-call recording and transcript: a two-channel WAV (caller left, agent right) and turns.

Why our own writer: the recording streams to disk as the call goes (a 15-minute call is not held
in memory) and stays aligned by time, not by byte count. The caller's audio arrives continuously
while the agent's comes in bursts; each frame is placed at the moment it was heard or sent, and
silence fills the gaps, so what the caller said and what the agent said line up when played.
Audio frames within ``jitter_sec`` of the channel's end are appended as is (no clicks from
network jitter); a channel that falls more than ``lag_sec`` behind the clock is padded with
silence so the writer can keep flushing. Audio cannot come from the future: when a burst (frames
buffered while the pipeline started) would push a channel ahead of the clock, the silence put
in before it was wrong, and is taken back out while it is still in memory.

Nothing here imports pipecat: the call path feeds raw 16-bit mono PCM and turn events.
"""

from __future__ import annotations

import json
import time
import wave
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

CALLER, AGENT = 0, 1


class TwoChannelRecorder:
    def __init__(self, path: str | Path, sample_rate: int = 16000, *, clock: Callable[[], float] = time.monotonic,
                 jitter_sec: float = 0.06, lag_sec: float = 2.0, batch_sec: float = 0.5):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.sample_rate = sample_rate
        self.clock = clock
        self.t0: float | None = None
        self.jitter = int(jitter_sec * sample_rate)
        self.lag = int(lag_sec * sample_rate)
        self.batch = max(1, int(batch_sec * sample_rate))
        self._pending: list[list[tuple[np.ndarray, bool]]] = [[], []]  # per channel: (samples, is padding)
        self._end = [0, 0]  # samples placed per channel, from t0
        self._written = 0  # stereo frames on disk
        self._patched = 0  # stereo frames the WAV header already counts
        self._wav = wave.open(str(self.path), "wb")
        self._wav.setnchannels(2)
        self._wav.setsampwidth(2)
        self._wav.setframerate(sample_rate)
        self.closed = False

    def start(self, at: float | None = None) -> None:
        """The call's time zero (answer time); defaults to the first frame."""
        if self.t0 is None:
            self.t0 = self.clock() if at is None else at

    def caller(self, pcm: bytes, sample_rate: int | None = None, at: float | None = None) -> None:
        self._add(CALLER, pcm, sample_rate, at)

    def agent(self, pcm: bytes, sample_rate: int | None = None, at: float | None = None) -> None:
        self._add(AGENT, pcm, sample_rate, at)

    def _add(self, channel: int, pcm: bytes, sample_rate: int | None, at: float | None) -> None:
        if self.closed or not pcm:
            return
        now = self.clock() if at is None else at
        self.start(now)
        samples = np.frombuffer(pcm if len(pcm) % 2 == 0 else pcm[:-1], dtype="<i2")
        if sample_rate and sample_rate != self.sample_rate:
            samples = _resample(samples, sample_rate, self.sample_rate)
        position = int(round((now - self.t0) * self.sample_rate))
        gap = position - self._end[channel]
        if gap > self.jitter:
            self._place(channel, np.zeros(gap, dtype="<i2"), padding=True)
        self._place(channel, samples)
        ahead = self._end[channel] - (position + len(samples))
        if ahead > self.jitter:
            self._unpad(channel, ahead)
        self._catch_up(position - self.lag)
        self._flush()

    def _place(self, channel: int, samples: np.ndarray, padding: bool = False) -> None:
        self._pending[channel].append((samples, padding))
        self._end[channel] += len(samples)

    def _unpad(self, channel: int, excess: int) -> None:
        """Take back up to ``excess`` samples of silence we inserted, latest first."""
        pending = self._pending[channel]
        for i in range(len(pending) - 1, -1, -1):
            if excess <= 0:
                break
            samples, padding = pending[i]
            if not padding:
                continue
            cut = min(excess, len(samples))
            pending[i] = (samples[: len(samples) - cut], True)
            self._end[channel] -= cut
            excess -= cut

    def _catch_up(self, position: int) -> None:
        for channel in (CALLER, AGENT):
            if position > self._end[channel]:
                self._place(channel, np.zeros(position - self._end[channel], dtype="<i2"), padding=True)

    def _flush(self, force: bool = False) -> None:
        """Write what both channels agree on, in batches: the recorder runs on the call path's event
        loop for every 20 ms frame of every call, and one write per frame was most of its cost."""
        ready = min(self._end) - self._written
        if ready <= 0 or (ready < self.batch and not force):
            return
        left, right = (self._take(c, ready) for c in (CALLER, AGENT))
        # writeframes() rewrites the header (a seek and two writes) every time: per 20 ms frame that
        # was a fifth of the event loop at 25 calls (bench/README.md). Append raw, and bring the
        # header up to date once a second, so a crashed call still leaves a readable file.
        self._wav.writeframesraw(np.column_stack((left, right)).astype("<i2").tobytes())
        self._written += ready
        if self._written - self._patched >= self.sample_rate:
            self._wav.writeframes(b"")
            self._patched = self._written

    def _take(self, channel: int, count: int) -> np.ndarray:
        """The first ``count`` pending samples; what is written can no longer be taken back."""
        taken, need, pending = [], count, self._pending[channel]
        while need > 0 and pending:
            samples, padding = pending[0]
            if len(samples) <= need:
                taken.append(samples)
                pending.pop(0)
                need -= len(samples)
            else:
                taken.append(samples[:need])
                pending[0] = (samples[need:], padding)
                need = 0
        return np.concatenate(taken) if taken else np.zeros(0, "<i2")

    def close(self) -> float:
        """Pad the shorter channel, finish the file; return its duration in seconds."""
        if not self.closed:
            self._catch_up(max(self._end))
            self._flush(force=True)
            self._wav.close()
            self.closed = True
        return self._written / self.sample_rate


def _resample(samples: np.ndarray, src: int, dst: int) -> np.ndarray:
    """Linear resampling: good enough for a reference recording, and dependency-free."""
    n = int(round(len(samples) * dst / src))
    if n == 0:
        return np.zeros(0, dtype="<i2")
    x = np.linspace(0, len(samples) - 1, n)
    return np.interp(x, np.arange(len(samples)), samples.astype(np.float32)).astype("<i2")


@dataclass
class Turn:
    speaker: str  # caller | agent
    text: str
    start: float  # seconds from the call's start
    end: float
    interrupted: bool = False


@dataclass
class Transcript:
    """Turns in the order they started. ``begin``/``text``/``end`` follow a turn as it streams."""

    clock: Callable[[], float] = time.monotonic
    t0: float | None = None
    turns: list[Turn] = field(default_factory=list)
    _open: dict[str, Turn] = field(default_factory=dict)

    def _rel(self, at: float | None) -> float:
        now = self.clock() if at is None else at
        if self.t0 is None:
            self.t0 = now
        return round(now - self.t0, 3)

    def begin(self, speaker: str, at: float | None = None) -> Turn:
        if speaker in self._open:
            return self._open[speaker]
        t = self._rel(at)
        turn = Turn(speaker, "", t, t)
        self._open[speaker] = turn
        self.turns.append(turn)
        return turn

    def text(self, speaker: str, text: str, at: float | None = None) -> None:
        """Words of the speaker's open turn (one is opened if none is). Text arrives after the
        speech it transcribes, so it does not move the turn's end."""
        turn = self.begin(speaker, at)
        turn.text = (turn.text + " " + text.strip()).strip() if turn.text else text.strip()

    def end(self, speaker: str, at: float | None = None, interrupted: bool = False) -> Turn | None:
        turn = self._open.pop(speaker, None)
        if turn is not None:
            turn.end = max(turn.start, self._rel(at))
            turn.interrupted = interrupted
            if not turn.text:
                self.turns.remove(turn)
        return turn

    def add(self, speaker: str, text: str, start: float, end: float, interrupted: bool = False) -> Turn:
        """A whole turn at once (times in seconds from the call's start)."""
        turn = Turn(speaker, text, round(start, 3), round(end, 3), interrupted)
        self.turns.append(turn)
        self.turns.sort(key=lambda t: t.start)
        return turn

    def close(self, at: float | None = None) -> list[dict[str, Any]]:
        for speaker in list(self._open):
            self.end(speaker, at)
        return self.to_list()

    def to_list(self) -> list[dict[str, Any]]:
        return [asdict(t) for t in self.turns]

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_list(), indent=2) + "\n")
        return path
