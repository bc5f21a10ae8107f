"""Silero VAD with one ONNX session shared by all calls: the ``silero`` provider of kind ``vad``.

pipecat's SileroVADAnalyzer loads its own ONNX session per call, blocking the event loop
~20 ms each time (DESIGN.md). The model's recurrent state is per stream, but the session is
stateless and thread-safe, so each call gets a fresh state over one shared session.

The windows of all calls are scored together: the model takes a batch (input ``[B, 288]``, state
``[2, B, 128]`` at 8 kHz), and one run over 50 streams costs about what five single runs do. A
call's window waits for the end of the event loop's current pass (``call_soon``), so every call
whose frame arrived in the same pass shares the run: nothing is held back by a timer, and the
busier the runner, the larger the batch. Each call's recurrent state and context stay its own,
read into the batch and written back after it.

The run itself is on one thread of its own (``cb-vad``), not on the event loop: ONNX Runtime lets
go of the GIL while it runs, so the loop goes on pacing every call's audio meanwhile, and windows
that arrive during a run wait for the next, larger one. On the loop it was 18 % of the loop's time
at 40 calls (py-spy, bench/README.md "Where the time goes"). ``CB_VAD_BATCH=loop`` runs it on the
loop as before (for before/after benchmarks); ``CB_VAD_BATCH=0`` scores each call alone.
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Callable

import numpy as np
from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams, VADState

from cb.providers import CallAudio, PartSpec

_lock = threading.Lock()
_session = None
# pipecat hands every 20 ms frame to a thread of the call's own; with tens of calls those threads
# fight the event loop for the GIL and turn latency grows to seconds (bench/README.md). Silero on
# a 32 ms window is ~0.2 ms, cheaper inline than the hand-off. CB_VAD_THREAD=1 restores the thread
# (for before/after benchmarks).
INLINE = os.environ.get("CB_VAD_THREAD", "") != "1"
# CB_VAD_BATCH=0 scores each call's window on its own (for before/after benchmarks).
BATCH = INLINE and os.environ.get("CB_VAD_BATCH", "") != "0"
ON_LOOP = os.environ.get("CB_VAD_BATCH", "") == "loop"


def _shared_session():
    global _session
    with _lock:
        if _session is None:
            path = str(resources.files("pipecat.audio.vad.data").joinpath("silero_vad.onnx"))
            _session = SileroOnnxModel(path, force_onnx_cpu=True).session
    return _session


class _StreamModel(SileroOnnxModel):
    """Per-stream recurrent state over the shared session."""

    def __init__(self, session):  # noqa: D107 - deliberately skips loading a session
        self.session = session
        self.sample_rates = [8000, 16000]
        self.reset_states()

    def context(self, size: int) -> np.ndarray:
        return self._context if self._context.shape[1] else np.zeros((1, size), dtype="float32")


class _Batch:
    """The windows waiting for the model, scored together: on the ``cb-vad`` thread, or on the loop."""

    def __init__(self, on_loop: bool | None = None) -> None:
        self._waiting: list[tuple[_StreamModel, np.ndarray, int, asyncio.Future]] = []
        self._guard = threading.Lock()  # _waiting and _busy: the loop adds, the thread takes
        self._busy = False  # a run is scheduled or in progress; it takes what waits when it starts
        self._on_loop = ON_LOOP if on_loop is None else on_loop
        self._thread: ThreadPoolExecutor | None = None
        self.runs = self.windows = 0  # for tests and benchmarks: windows / runs is the mean batch

    def score(self, model: "_StreamModel", audio: np.ndarray, sample_rate: int) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._guard:
            self._waiting.append((model, audio, sample_rate, future))
            start, self._busy = not self._busy, True
        if start:  # at the end of this pass, so every window that arrived in it shares the run
            loop.call_soon(self.run if self._on_loop else self._hand_off)
        return future

    def _hand_off(self) -> None:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="cb-vad")
        self._thread.submit(self._drain)

    def _drain(self) -> None:
        """On the cb-vad thread: runs until nothing waits, each run taking all that waits."""
        while True:
            with self._guard:
                waiting, self._waiting = self._waiting, []
                if not waiting:
                    self._busy = False
                    return
            settled: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, object]]] = {}
            for future, outcome in self._score(waiting):
                settled.setdefault(future.get_loop(), []).append((future, outcome))
            for loop, outcomes in settled.items():  # one wake-up per loop, not one per call
                try:
                    loop.call_soon_threadsafe(_settle, outcomes)
                except RuntimeError:  # that loop is closed: nobody waits for these any more
                    pass

    def run(self) -> None:
        """On the loop: one run over what waits."""
        with self._guard:
            waiting, self._waiting, self._busy = self._waiting, [], False
        _settle(self._score(waiting))

    def _score(self, waiting) -> list[tuple[asyncio.Future, object]]:
        out: list[tuple[asyncio.Future, object]] = []
        for rate in {w[2] for w in waiting}:
            group = [w for w in waiting if w[2] == rate]
            try:
                scores: list[object] = score(_shared_session(), [(m, a) for m, a, _, _ in group], rate)
            except Exception as exc:  # noqa: BLE001 - every waiting call hears of it
                scores = [exc] * len(group)
            else:
                self.runs += 1
                self.windows += len(group)
            out += [(future, outcome) for (*_, future), outcome in zip(group, scores)]
        return out


def _settle(outcomes: list[tuple[asyncio.Future, object]]) -> None:
    for future, outcome in outcomes:
        if future.done():  # the call went away while its window was scored
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


def score(session, streams: list[tuple["_StreamModel", np.ndarray]], sample_rate: int) -> list[float]:
    """One model run over several streams' windows; each stream's state and context move on as
    SileroOnnxModel.__call__ moves them for a batch of one."""
    context = 64 if sample_rate == 16000 else 32
    x = np.stack([np.concatenate((m.context(context)[0], audio)) for m, audio in streams])
    state = np.concatenate([m._state for m, _ in streams], axis=1)
    out, new_state = session.run(None, {"input": x, "state": state, "sr": np.array(sample_rate, dtype="int64")})
    for i, (m, _) in enumerate(streams):
        m._state = new_state[:, i:i + 1]
        m._context = x[i:i + 1, -context:]
        m._last_sr, m._last_batch_size = sample_rate, 1
    return [float(c) for c in out[:, 0]]


_batch = _Batch()


class SharedSileroVADAnalyzer(SileroVADAnalyzer):
    def __init__(self, *, sample_rate: int | None = None, params: VADParams | None = None):
        VADAnalyzer.__init__(self, sample_rate=sample_rate, params=params)
        self._model = _StreamModel(_shared_session())
        self._windows_since_reset = 0
        self._low_confidence_windows = 0
        # Told the state after every analysis, on the event loop: the runner's duck (the agent
        # pauses on the caller's first voiced window) listens here.
        self.on_state: Callable[[VADState], None] | None = None
        self._scored: float | None = None  # the batch's confidence for the window being analysed

    async def analyze_audio(self, buffer: bytes) -> VADState:
        if BATCH:
            state = await self._analyze_batched(buffer)
        else:
            state = self._run_analyzer(buffer) if INLINE else await super().analyze_audio(buffer)
        if self.on_state is not None:
            self.on_state(state)
        return state


    async def _analyze_batched(self, buffer: bytes) -> VADState:
        """pipecat's analysis, one window at a time, each window's confidence from the batch."""
        need = self._vad_frames_num_bytes
        state = self._vad_state
        while buffer:
            chunk, buffer = buffer[:need - len(self._vad_buffer)], buffer[need - len(self._vad_buffer):]
            if len(self._vad_buffer) + len(chunk) >= need:
                window = np.frombuffer(self._vad_buffer + chunk, np.int16).astype(np.float32) / 32768.0
                self._scored = await _batch.score(self._model, window, self.sample_rate)
            state = self._run_analyzer(chunk)
        return state

    def voice_confidence(self, buffer: bytes) -> float:
        if self._scored is None:
            return super().voice_confidence(buffer)
        confidence, self._scored = self._scored, None
        self._maybe_reset_model(confidence)
        return confidence


def vad_analyzer(start_secs: float, stop_secs: float) -> SharedSileroVADAnalyzer:
    return SharedSileroVADAnalyzer(params=VADParams(start_secs=start_secs, stop_secs=stop_secs))


class SileroProvider:
    """Options: ``start_secs`` (speech that starts a turn) and ``stop_secs`` (silence that ends it)."""

    name = "silero"
    kind = "vad"

    def create(self, part: PartSpec, audio: CallAudio) -> SharedSileroVADAnalyzer:
        return vad_analyzer(float(part.options.get("start_secs", 0.2)), float(part.options.get("stop_secs", 0.2)))


provider = SileroProvider()
