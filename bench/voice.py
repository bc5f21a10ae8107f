"""What the benchmark caller says: Piper speech, a cough and an "mm-hm", as 20 ms mu-law frames.

Latency is measured from the caller's last speech sample, so each utterance knows exactly where
its voice starts and ends (the first and last sample louder than ~-40 dBFS: ``speech.voiced``);
leading and trailing near-silence is trimmed so the figures do not hide the synthesiser's padding.
Speech is real (Piper), because the runner's Silero VAD ignores tones and noise by design.
"""

from __future__ import annotations

import audioop
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

RATE = 8000
FRAME_SAMPLES = 160  # 20 ms
ULAW_SILENCE = b"\xff" * FRAME_SAMPLES

LINES = (
    "I would like to book an appointment for tomorrow morning.",
    "Do you have anything later in the afternoon?",
    "Can I bring my daughter to the same appointment?",
    "What is the address of your office?",
)
BARGE_LINE = "Actually I need to change that booking."
MM_HM = "Mm-hm."


@dataclass(frozen=True)
class Utterance:
    name: str
    frames: tuple[bytes, ...]  # mu-law, FRAME_SAMPLES each
    first_voice: int  # sample index of the first voiced sample
    last_voice: int  # sample index of the last voiced sample

    @property
    def seconds(self) -> float:
        return len(self.frames) * FRAME_SAMPLES / RATE


def from_pcm(name: str, pcm: np.ndarray) -> Utterance:
    from cb.plugins.local.speech import voiced

    pcm = voiced(pcm)
    if not len(pcm):
        raise ValueError(f"{name}: no voice in the audio")
    pad = (-len(pcm)) % FRAME_SAMPLES
    ulaw = audioop.lin2ulaw(pcm.astype(np.int16).tobytes(), 2) + ULAW_SILENCE[:pad]
    frames = tuple(ulaw[i:i + FRAME_SAMPLES] for i in range(0, len(ulaw), FRAME_SAMPLES))
    return Utterance(name, frames, 0, len(pcm) - 1)


@lru_cache(maxsize=None)
def spoken(text: str) -> Utterance:
    from cb.plugins.local import speech

    pcm = np.frombuffer(speech.synthesize(text), dtype=np.int16)
    return from_pcm(text, pcm)


@lru_cache(maxsize=None)
def cough(ms: int = 250, seed: int = 7) -> Utterance:
    """A cough: a burst of shaped noise, sharp attack and fast decay."""
    rng = np.random.default_rng(seed)
    n = RATE * ms // 1000
    noise = rng.normal(0, 1, n)
    noise = np.convolve(noise, np.ones(3) / 3, mode="same")  # take the hiss off
    envelope = np.minimum(1.0, np.arange(n) / (0.01 * RATE)) * np.exp(-np.arange(n) / (0.08 * RATE))
    return from_pcm("cough", (noise * envelope * 12000).clip(-32000, 32000).astype(np.int16))


def mm_hm() -> Utterance:
    return spoken(MM_HM)
