"""Speech helpers for a simulated caller: Piper to speak, Whisper to listen, G.711 mu-law on the wire.

The same bundled models as the runner's local stack, loaded once per process.
"""

from __future__ import annotations

import numpy as np

from . import piper as piper_plugin
from . import whisper as whisper_plugin

TELEPHONE_RATE = 8000
FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law
SILENCE = b"\xff" * FRAME_BYTES  # mu-law zero


def ulaw_encode(pcm16: bytes) -> bytes:
    """ITU-T G.711 mu-law, as Twilio sends it."""
    x = np.frombuffer(pcm16, dtype=np.int16).astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    x = np.minimum(np.abs(x), 32635) + 0x84
    exponent = np.floor(np.log2(x)).astype(np.int32) - 7
    mantissa = (x >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def ulaw_decode(data: bytes) -> bytes:
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    sign, exponent, mantissa = u & 0x80, (u >> 4) & 0x07, u & 0x0F
    x = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -x, x).astype(np.int16).tobytes()


def resample(pcm16: bytes, src: int, dst: int) -> bytes:
    if src == dst:
        return pcm16
    import soxr

    audio = np.frombuffer(pcm16, dtype=np.int16).astype(np.float32) / 32768.0
    out = soxr.resample(audio, src, dst)
    return (np.clip(out, -1, 1) * 32767).astype(np.int16).tobytes()


VOICE_LEVEL = 328  # int16 magnitude that counts as voice, ~-40 dBFS


def voiced(pcm: np.ndarray) -> np.ndarray:
    """``pcm`` from its first to its last sample louder than VOICE_LEVEL: Piper pads its speech
    with near-silence, and a caller that counts from its last frame sent would count the pad."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) >= VOICE_LEVEL)
    return pcm[loud[0]:loud[-1] + 1] if len(loud) else pcm[:0]


def synthesize(text: str, voice_model: str | None = None) -> bytes:
    """Piper speech as 8 kHz 16-bit PCM."""
    voice = piper_plugin.shared_voice(piper_plugin.voice_path(voice_model))
    chunks = list(voice.synthesize(text))
    if not chunks:
        return b""
    pcm = b"".join(c.audio_int16_bytes for c in chunks)
    return resample(pcm, chunks[0].sample_rate, TELEPHONE_RATE)


def transcribe(pcm16_8k: bytes) -> str:
    """Whisper's reading of 8 kHz 16-bit PCM."""
    model = whisper_plugin.shared_model(whisper_plugin.bundled_model_path())
    audio = np.frombuffer(resample(pcm16_8k, TELEPHONE_RATE, 16000), dtype=np.int16).astype(np.float32) / 32768.0
    segments, _ = model.transcribe(audio, language="en", beam_size=1, vad_filter=False,
                                   condition_on_previous_text=False)
    return " ".join(s.text.strip() for s in segments).strip()
