"""Watches a call's frames for its transcript, its tool calls and its per-turn latency.

Latency is measured from the caller's last speech sample to the agent's first audio at the
transport. The last speech sample is the last 20 ms input frame loud enough to be voice (RMS at
least VOICE_RMS, about -40 dBFS, well above a phone line's noise), provided it lies in the
half-second before the VAD's last voiced window; else it is that window (the VAD's stop minus
its ``stop_secs``). Silero's confidence falls some 60 ms after the voice does, so the window alone
would read every turn that much short. The turn is split into:

- endpointing_ms: deciding the turn is over (VAD silence + the turn decision, STT excluded)
- stt_ms: VAD stop -> final transcript
- llm_first_token_ms: turn decided -> the LLM's first token reaching the TTS (near 0 when a
  preemptive answer, started on an early transcript, was ready and held: see turns.py)
- tts_first_audio_ms: first token -> first synthesised audio
- total_ms: caller's last speech -> first audio sent to the caller

The parts need not add up to the total: the rest is queueing and the transport.
"""

from __future__ import annotations

import audioop
import logging
import time
from typing import Any, Callable, Iterable

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    FunctionCallInProgressFrame,
    InputAudioRawFrame,
    InterruptionFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.pipeline.worker_observer import WorkerObserver
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport

log = logging.getLogger("cb.runner.calls")

WATCHED = (BotStartedSpeakingFrame, FunctionCallInProgressFrame, InterruptionFrame, LLMTextFrame,
           TranscriptionFrame, TTSAudioRawFrame, TTSTextFrame, UserStoppedSpeakingFrame,
           VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame)
VOICE_RMS = 300  # int16 RMS of a 20 ms frame that counts as voice (~ -40 dBFS)
LOUD_LOOKBACK = 0.5  # how far before the VAD's last voiced window the last loud frame may lie


class CallObserver(BaseObserver):
    def __init__(self, on_turn: Callable[[int, dict[str, float | None]], None] | None = None,
                 listeners: Iterable[Any] = (), **kwargs: Any):
        super().__init__(**kwargs)
        # Others that watch the call (the recording) hear every push through this observer: each
        # pipecat observer costs a queue hop per frame push, which a loaded runner pays dearly.
        self._listeners = list(listeners)
        self.transcript: list[dict[str, Any]] = []
        self.tool_calls: list[dict[str, Any]] = []
        self.turns: list[dict[str, float | None]] = []
        self.interruptions = 0
        self._on_turn = on_turn
        self._seen: set[int] = set()
        self._t0 = self.t0 = time.monotonic()  # the call's start: tool calls count from it (ToolExecutor.origin)
        self._last_loud: float | None = None
        self._reset_turn()
        self._bot_speaking_turn = True  # the greeting is not a measured turn

    def _reset_turn(self) -> None:
        self._vad_stop = self._last_speech = self._transcript_at = self._turn_end = None
        self._llm_first = self._tts_first = None

    def _say(self, role: str, text: str) -> None:
        text = text.strip()
        if not text:
            return
        if self.transcript and self.transcript[-1]["role"] == role:
            self.transcript[-1]["text"] += " " + text
        else:
            self.transcript.append({"role": role, "text": text, "at_ms": round((time.monotonic() - self._t0) * 1000)})

    async def on_push_frame(self, data: FramePushed) -> None:
        for listener in self._listeners:
            await listener.on_push_frame(data)
        frame = data.frame
        if isinstance(frame, InputAudioRawFrame):
            # Once per frame, as the transport receives it: the arrival of its last sample.
            if isinstance(getattr(data, "source", None), BaseInputTransport) and audioop.rms(frame.audio, 2) >= VOICE_RMS:
                self._last_loud = time.monotonic()
            return
        if not isinstance(frame, WATCHED) or frame.id in self._seen:
            return
        if isinstance(frame, TTSTextFrame) and not isinstance(getattr(data, "source", None), BaseOutputTransport):
            return  # text counts once the transport sends its audio: an interrupted tail never is
        self._seen.add(frame.id)
        try:
            self._observe(frame, time.monotonic())
        except Exception:  # noqa: BLE001 - bookkeeping must never break the call
            log.exception("call observer failed on %s", type(frame).__name__)

    def _observe(self, frame: Any, now: float) -> None:
        if isinstance(frame, VADUserStartedSpeakingFrame):
            self._reset_turn()
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self._vad_stop = now
            self._last_speech = last_speech(now - float(getattr(frame, "stop_secs", 0.0) or 0.0), self._last_loud)
        elif isinstance(frame, TranscriptionFrame):
            self._transcript_at = now
            self._say("caller", frame.text)
        elif isinstance(frame, UserStoppedSpeakingFrame):
            self._turn_end = now
            self._bot_speaking_turn = False
        elif isinstance(frame, LLMTextFrame):
            if self._turn_end and self._llm_first is None:
                self._llm_first = now
        elif isinstance(frame, TTSAudioRawFrame):
            if self._turn_end and self._tts_first is None:
                self._tts_first = now
        elif isinstance(frame, TTSTextFrame):
            self._say("agent", frame.text)
        elif isinstance(frame, FunctionCallInProgressFrame):
            self.tool_calls.append({"name": frame.function_name, "arguments": dict(frame.arguments or {}),
                                    "at_ms": round((now - self._t0) * 1000)})
        elif isinstance(frame, InterruptionFrame):
            self.interruptions += 1
        elif isinstance(frame, BotStartedSpeakingFrame):
            self._finish_turn(now)

    def _finish_turn(self, first_audio: float) -> None:
        if self._bot_speaking_turn or self._turn_end is None or self._last_speech is None:
            return
        ms = lambda a, b: round((a - b) * 1000, 1) if a is not None and b is not None else None  # noqa: E731
        decided_from = max(t for t in (self._vad_stop, self._transcript_at) if t is not None)
        latency = {
            "endpointing_ms": round(ms(self._vad_stop, self._last_speech) + max(0.0, ms(self._turn_end, decided_from)), 1),
            # A transcript older than the last VAD stop belongs to an earlier segment of the turn.
            "stt_ms": ms(self._transcript_at, self._vad_stop)
            if self._transcript_at and self._transcript_at >= self._vad_stop else None,
            "llm_first_token_ms": ms(self._llm_first, self._turn_end),
            "tts_first_audio_ms": ms(self._tts_first, self._llm_first),
            "total_ms": ms(first_audio, self._last_speech),
        }
        self.turns.append(latency)
        self._bot_speaking_turn = True
        if self._on_turn:
            self._on_turn(len(self.turns), latency)
        self._reset_turn()


class InlineObservers(WorkerObserver):
    """The call's observers, told of each push at once by the processor that pushes it.

    pipecat's WorkerObserver gives every observer a queue and a task, and queues every push and
    every processed frame of every processor to each: at tens of calls that proxy was a sixth of
    the runner's CPU (bench/README.md). cb's observers are cheap bookkeeping that never wait, so
    they are called in place; nothing in cb reads ``on_process_frame``, so processing is not told
    at all. ``first_push`` is set as pipecat sets it. An observer that raises is logged and the
    call goes on.
    """

    @classmethod
    def install(cls, worker: Any, observers: list[Any]) -> "InlineObservers":
        """Put one in place of the worker's own proxy (before the worker runs)."""
        inline = cls(observers=observers)
        worker._observer = inline
        return inline

    async def setup(self, task_manager: Any) -> None:
        await BaseObserver.setup(self, task_manager)
        self._proxies = {}  # no queues, no tasks
        for observer in self._observers:
            await observer.setup(task_manager)

    async def cleanup(self) -> None:
        await BaseObserver.cleanup(self)
        for observer in self._observers:
            try:
                await observer.cleanup()
            except Exception:  # noqa: BLE001 - best effort, as pipecat's
                log.exception("call observer cleanup failed")

    def add_observer(self, observer: Any) -> None:
        self._observers.append(observer)

    async def on_pipeline_started(self) -> None:
        for observer in self._observers:
            await observer.on_pipeline_started()

    async def on_process_frame(self, data: Any) -> None:
        return

    async def on_processor_setup(self, data: Any) -> None:
        return

    async def on_push_frame(self, data: FramePushed) -> None:
        frame = data.frame
        data.first_push = frame.id not in self._frames_pushed
        if data.first_push:
            self._frames_pushed[frame.id] = frame
        for observer in self._observers:
            if data.first_push or observer.observe_every_push:
                try:
                    await observer.on_push_frame(data)
                except Exception:  # noqa: BLE001 - bookkeeping must never break the call
                    log.exception("call observer failed on %s", type(frame).__name__)


def last_speech(vad_last_voiced: float, last_loud: float | None) -> float:
    """The caller's last speech sample: the last loud frame when it belongs to this speech."""
    if last_loud is not None and vad_last_voiced - LOUD_LOOKBACK <= last_loud <= vad_last_voiced:
        return last_loud
    return vad_last_voiced
