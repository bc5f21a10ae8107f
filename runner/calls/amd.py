"""Answering-machine detection on the call's own audio: who picked up, and when a greeting ends.

Used where no carrier tells us (the local provider, later SIP) and beside Twilio's async AMD
(whichever speaks first wins). pipecat's VoicemailDetector and LiveKit's AMD ask an LLM about
the transcript, which waits for words and which the bundled small model cannot do well; this
detector decides on what is cheap and exact first, and on words only where those cannot:

- a beep: a steady tone between 1 and 2 kHz. Each 20 ms frame is matched against 41 Goertzel bins
  (25 Hz apart, one matrix product); a frame is tonal when one bin holds most of its energy, and
  six tonal frames on the same bin (±1) are a beep. The verdict ``machine_end_beep`` comes on the
  first non-tonal frame after it: the end of the beep, which is when a message may start.
- cadence: a person answers with a short word or two and waits ("Hello?", then silence); a
  machine talks on. A first utterance shorter than ``long_ms`` followed by ``human_silence_ms``
  of silence is ``human``; speech that runs past ``long_ms`` is a greeting.
- words: a long greeting is a machine when it says what machines say ("leave a message", "not
  available", "after the tone"…), a person otherwise (someone who answers "Hi, this is Maria
  speaking, who's calling?"). Transcripts arrive from the call's own speech-to-text, a segment at
  a time and late when the machine is busy: a person is only decided on words that cover the
  greeting (``words_per_sec`` of its voiced time), so the first segment of a machine's greeting
  ("Hi, you've reached Maria") cannot decide alone. Words that never come to cover it within
  ``words_wait_ms`` of the last word leave the length rule: a machine.
- silence: nothing said for ``no_speech_ms`` is ``unknown``; the agent then speaks as to a person.

After ``machine_start`` the greeting's end is the beep, else ``machine_end_silence`` after
``machine_silence_ms`` without speech, else ``machine_end_other`` at ``timeout_ms``.

Feed it ``frame(pcm16_bytes)`` every 20 ms and ``words(text)`` per transcript; each returns the
new verdict (an AnsweredBy value) or None. ``elapsed_ms`` is the audio time seen so far.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

RATE = 8000
FRAME = 160  # 20 ms
FRAME_MS = 20
TONE_HZ = np.arange(1000, 2001, 25)
_T = np.arange(FRAME) / RATE
_COS = np.cos(2 * np.pi * TONE_HZ[:, None] * _T[None, :])
_SIN = np.sin(2 * np.pi * TONE_HZ[:, None] * _T[None, :])

MACHINE_WORDS = re.compile(
    r"leave (me |us )?(a |your )?(message|name|number)|after the (tone|beep)|at the (tone|beep)|not available|"
    r"unavailable|can'?t (come to|take|get to|answer)|cannot (come to|take|answer)|voice ?mail|mailbox|"
    r"away from (the|my) (phone|desk)|you('ve| have) reached|record (your|a) message|get back to you|"
    r"return your call|please leave",
    re.IGNORECASE)


@dataclass
class AmdSettings:
    voiced_rms: float = 400.0  # int16 RMS above which a frame is sound
    tonal_ratio: float = 0.5  # share of a frame's energy in one bin for it to be a tone
    beep_frames: int = 6  # 120 ms of the same tone is a beep
    human_silence_ms: int = 500  # after a short first utterance: a person waiting for us
    long_ms: int = 2400  # speech longer than this is a greeting (Twilio's speech threshold)
    words_wait_ms: int = 1200  # after a long utterance ends (or its last words came), how long words may take
    words_per_sec: float = 1.5  # words that cover a greeting: this many per second of its voiced time
    machine_silence_ms: int = 2500  # a greeting without a beep has ended
    no_speech_ms: int = 5000  # silence from the start: unknown
    timeout_ms: int = 30000


def tone_of(pcm: np.ndarray, settings: AmdSettings) -> int | None:
    """The Goertzel bin holding most of this frame's energy, if it is a tone."""
    x = pcm.astype(np.float64)
    energy = float(np.dot(x, x))
    if energy <= 0:
        return None
    power = (_COS @ x) ** 2 + (_SIN @ x) ** 2  # |X(f)|^2 at each candidate frequency
    best = int(np.argmax(power))
    ratio = 2 * power[best] / (len(x) * energy)  # 1.0 for a pure tone on the bin
    return best if ratio >= settings.tonal_ratio else None


@dataclass
class Detector:
    settings: AmdSettings = field(default_factory=AmdSettings)
    verdict: str | None = None  # the latest AnsweredBy
    final: bool = False  # no further verdict will come
    elapsed_ms: int = 0
    speech_ms: int = 0  # voiced time in the current greeting (gaps shorter than the silences count)
    utterances: int = 0
    heard: list[str] = field(default_factory=list)
    _silence_ms: int = 0
    _in_speech: bool = False
    _tone_bin: int | None = None
    _tone_frames: int = 0
    _long_ended_at: int | None = None  # a long utterance ended here and no words decided it yet
    _words_at: int | None = None  # audio time of the latest transcript
    _words_heard: int = 0
    _machine_words: bool = False

    # ---------------------------------------------------------------- verdicts
    def _say(self, verdict: str, final: bool = False) -> str | None:
        if self.final or verdict == self.verdict:
            return None
        self.verdict, self.final = verdict, final
        return verdict

    @property
    def machine(self) -> bool:
        return bool(self.verdict and self.verdict.startswith("machine"))

    # ---------------------------------------------------------------- inputs
    def words(self, text: str) -> str | None:
        """A transcript of what the callee said."""
        if self.final or not text.strip():
            return None
        self.heard.append(text)
        self._words_at = self.elapsed_ms
        self._words_heard += len(text.split())
        if MACHINE_WORDS.search(" ".join(self.heard)):
            self._machine_words = True
            if self.verdict is None and (self.speech_ms >= self.settings.long_ms or self._long_ended_at is not None):
                return self._say("machine_start")
        elif self._long_ended_at is not None and self.verdict is None and not self._in_speech and self._covered():
            return self._say("human", final=True)  # a long, personal answer, heard in full
        return None

    def _covered(self) -> bool:
        """The words heard so far could be the whole of the voiced time, not its first segment."""
        return self._words_heard >= self.settings.words_per_sec * self.speech_ms / 1000

    def frame(self, pcm16: bytes) -> str | None:
        s = self.settings
        pcm = np.frombuffer(pcm16, dtype=np.int16)
        self.elapsed_ms += FRAME_MS
        if self.final:
            return None
        rms = float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) if len(pcm) else 0.0
        tone = tone_of(pcm, s) if rms >= s.voiced_rms else None
        if tone is not None and (self._tone_bin is None or abs(tone - self._tone_bin) <= 1):
            self._tone_bin = tone
            self._tone_frames += 1
            return None
        if self._tone_frames >= s.beep_frames:  # a beep just ended
            self._tone_bin, self._tone_frames = None, 0
            return self._say("machine_end_beep", final=True)
        self._tone_bin, self._tone_frames = (tone, 1) if tone is not None else (None, 0)
        voiced = rms >= s.voiced_rms
        if voiced:
            if not self._in_speech:
                self.utterances += 1
            self._in_speech, self._silence_ms = True, 0
            self.speech_ms += FRAME_MS
            self._long_ended_at = None
            if self.verdict is None and self.speech_ms >= s.long_ms and self._machine_words:
                return self._say("machine_start")
            return None
        self._silence_ms += FRAME_MS
        if self.verdict is None:
            if not self.utterances:
                if self._silence_ms >= s.no_speech_ms:
                    return self._say("unknown", final=True)
                return None
            if self._in_speech and self._silence_ms >= s.human_silence_ms:
                self._in_speech = False
                if self.speech_ms < s.long_ms:
                    return self._say("human", final=True)
                if self._machine_words:
                    return self._say("machine_start")
                self._long_ended_at = self.elapsed_ms
            if self._long_ended_at is not None:
                since = self.elapsed_ms - max(self._long_ended_at, self._words_at or 0)
                if since >= s.words_wait_ms:
                    self._long_ended_at = None
                    if self._covered():  # heard in full while it was said, and nothing a machine says
                        return self._say("human", final=True)
                    # Its words never came, or never covered it: a machine, by length alone (Twilio's rule).
                    return self._say("machine_start")
            return None
        if self.machine and self._silence_ms >= s.machine_silence_ms:
            return self._say("machine_end_silence", final=True)
        if self.machine and self.elapsed_ms >= s.timeout_ms:
            return self._say("machine_end_other", final=True)
        return None
