"""Silero VAD with one ONNX session shared by all calls: the ``silero`` provider of kind ``vad``.

pipecat's SileroVADAnalyzer loads its own ONNX session per call, blocking the event loop
~20 ms each time (DESIGN.md). The model's recurrent state is per stream, but the session is
stateless and thread-safe, so each call gets a fresh state over one shared session.
"""

from __future__ import annotations

import os
import threading
from importlib import resources
from typing import Callable

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


class SharedSileroVADAnalyzer(SileroVADAnalyzer):
    def __init__(self, *, sample_rate: int | None = None, params: VADParams | None = None):
        VADAnalyzer.__init__(self, sample_rate=sample_rate, params=params)
        self._model = _StreamModel(_shared_session())
        self._windows_since_reset = 0
        self._low_confidence_windows = 0
        # Told the state after every analysis, on the event loop: the runner's duck (the agent
        # pauses on the caller's first voiced window) listens here.
        self.on_state: Callable[[VADState], None] | None = None

    async def analyze_audio(self, buffer: bytes) -> VADState:
        state = self._run_analyzer(buffer) if INLINE else await super().analyze_audio(buffer)
        if self.on_state is not None:
            self.on_state(state)
        return state


def vad_analyzer(start_secs: float, stop_secs: float) -> SharedSileroVADAnalyzer:
    return SharedSileroVADAnalyzer(params=VADParams(start_secs=start_secs, stop_secs=stop_secs))


class SileroProvider:
    """Options: ``start_secs`` (speech that starts a turn) and ``stop_secs`` (silence that ends it)."""

    name = "silero"
    kind = "vad"

    def create(self, part: PartSpec, audio: CallAudio) -> SharedSileroVADAnalyzer:
        return vad_analyzer(float(part.options.get("start_secs", 0.2)), float(part.options.get("stop_secs", 0.2)))


provider = SileroProvider()
