"""STT provider ``scripted``: a speech-to-text service that hears *when* the caller speaks, not what.

Benchmarks need a recogniser whose latency is a known constant, so the figure they print is the
runner's own cost plus a published provider latency, not Whisper's CPU time. This service watches
the audio energy frame by frame; ``delay_ms`` after the caller's last voiced sample it emits a final
(``finalized``) transcript, as a streaming cloud STT does when it closes an utterance. The text is
taken from ``transcripts`` in turn (cycled), else ``transcript``.

Options: ``delay_ms`` (default 0; the published figure for a fast cloud STT is 150),
``transcripts`` / ``transcript``, ``threshold`` (int16 RMS that counts as voice, default 300),
``endpoint_ms`` (the quiet it needs before it may close an utterance, default 150: shorter, and it
finalises on the pause after a comma, as an over-eager STT does), ``min_voiced_ms`` (voice an
utterance needs before it is transcribed at all, default 300: a cough is not words).
"""

from __future__ import annotations

import asyncio
import audioop
import time
from typing import Any, AsyncGenerator

from cb.providers import CallAudio, PartSpec

DEFAULT_TRANSCRIPT = "I would like to book an appointment for tomorrow."


class ScriptedSTTProvider:
    name = "scripted"
    kind = "stt"

    def create(self, part: PartSpec, audio: CallAudio) -> Any:
        from pipecat.frames.frames import TranscriptionFrame
        from pipecat.services.stt_service import STTService
        from pipecat.utils.time import time_now_iso8601

        options = part.options
        texts = list(options.get("transcripts") or [options.get("transcript") or DEFAULT_TRANSCRIPT])
        delay = float(options.get("delay_ms", 0)) / 1000
        endpoint = float(options.get("endpoint_ms", 150)) / 1000
        min_voiced = float(options.get("min_voiced_ms", 300)) / 1000
        threshold = int(options.get("threshold", 300))

        class ScriptedSTTService(STTService):
            def __init__(self, **kwargs: Any):
                # A finalized transcript tells the turn strategy that nothing more is coming,
                # so its STT safety-net timer never adds to the turn.
                super().__init__(ttfs_p99_latency=max(delay, endpoint), **kwargs)
                self._turn = 0
                self._last_voiced: float | None = None
                self._voiced = 0.0  # seconds of voice since the last transcript
                self._timer: asyncio.TimerHandle | None = None

            async def run_stt(self, audio_bytes: bytes) -> AsyncGenerator[Any, None]:
                now = time.monotonic()
                if audioop.rms(audio_bytes, 2) >= threshold:
                    # The frame arrived when its last sample was captured: that is the last voice.
                    self._last_voiced = now
                    self._voiced += len(audio_bytes) / 2 / self.sample_rate
                    if self._timer is not None:
                        self._timer.cancel()
                    wait = max(delay, endpoint)
                    self._timer = asyncio.get_running_loop().call_later(wait, self._emit)
                return
                yield  # an async generator that yields nothing: the transcript comes from the timer

            def _emit(self) -> None:
                self._timer = None
                voiced, self._voiced = self._voiced, 0.0
                if voiced < min_voiced:
                    return
                text = texts[self._turn % len(texts)]
                self._turn += 1
                frame = TranscriptionFrame(text, self._user_id, time_now_iso8601(), finalized=True)
                self.create_task(self.push_frame(frame), name="scripted_stt_final")

            async def cleanup(self) -> None:
                if self._timer is not None:
                    self._timer.cancel()
                await super().cleanup()

        return ScriptedSTTService(sample_rate=audio.sample_rate)


provider = ScriptedSTTProvider()
