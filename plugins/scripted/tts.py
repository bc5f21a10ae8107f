"""TTS provider ``scripted``: speech synthesis with a known first-audio latency and no CPU cost.

Benchmarks need a synthesiser that answers after a published latency (``first_audio_ms``) and
then streams faster than real time, as cloud TTS does, so turn latency and barge-in figures show
the runner and not Piper. The audio is a quiet tone (never digital silence, so a listener can
tell agent audio from a gap), ``ms_per_char`` long per character of text, in ``chunk_ms`` pieces.

Options: ``first_audio_ms`` (default 0; published for a fast cloud TTS: 100),
``ms_per_char`` (default 60, about natural speaking rate), ``chunk_ms`` (default 100).
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, AsyncGenerator

from cb.providers import CallAudio, PartSpec


def tone(sample_rate: int, ms: int, hz: float = 220.0, amplitude: int = 3000) -> bytes:
    """``ms`` of 16-bit mono sine: the scripted voice."""
    import array

    n = sample_rate * ms // 1000
    return array.array("h", (int(amplitude * math.sin(2 * math.pi * hz * i / sample_rate))
                             for i in range(n))).tobytes()


class ScriptedTTSProvider:
    name = "scripted"
    kind = "tts"

    def create(self, part: PartSpec, audio: CallAudio) -> Any:
        from pipecat.frames.frames import TTSAudioRawFrame
        from pipecat.services.settings import TTSSettings
        from pipecat.services.tts_service import TTSService

        options = part.options
        first = float(options.get("first_audio_ms", 0)) / 1000
        ms_per_char = float(options.get("ms_per_char", 60))
        chunk_ms = int(options.get("chunk_ms", 100))
        rate = audio.sample_rate
        chunk = tone(rate, chunk_ms)  # 220 Hz fits a whole number of periods in 100 ms chunks at 8 kHz

        class ScriptedTTSService(TTSService):
            def __init__(self, **kwargs: Any):
                super().__init__(push_start_frame=True, push_stop_frames=True,
                                 settings=TTSSettings(model=None, voice="scripted", language=None),
                                 **kwargs)

            def can_generate_metrics(self) -> bool:
                return True

            async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Any, None]:
                if first:
                    await asyncio.sleep(first)
                await self.stop_ttfb_metrics()
                chunks = max(1, round(len(text) * ms_per_char / chunk_ms))
                for _ in range(chunks):
                    yield TTSAudioRawFrame(audio=chunk, sample_rate=rate, num_channels=1, context_id=context_id)

        return ScriptedTTSService(sample_rate=rate)


provider = ScriptedTTSProvider()
