"""Backchannels: a caller's "mm-hm" over the agent pauses it for a moment, and it goes on.

While the agent talks, the caller's first sound pauses its audio at once (duck.py) but starts no
user turn. What the sound turns out to be decides what happens next:

- words that are not all acknowledgements (``pipeline.interruptions.backchannels``), from an
  interim or a final transcript, and at least ``min_words`` of them: a user turn starts, pipecat
  interrupts the answer and Twilio gets ``clear``;
- a voice that goes on past ``LONG_VOICE_SECS`` (no backchannel lasts that long) while no words
  have come yet, when ``min_words`` is 0: the same interruption, without waiting for the STT;
- words that are all acknowledgements: a backchannel. Their text is taken out of the user's
  aggregation (the LLM context never gets a turn for it), a ``UserBackchannelFrame`` goes in its
  place, and the agent's audio goes on from the frame it paused on (nothing is regenerated);
- no words at all (a cough, a click, a sound the VAD never called voice): the agent goes on once
  the VAD has found no voice (``CONFIRM_SECS``) or the STT has had its time (``WORDS_WAIT_SECS``),
  and the duck never holds it longer than its ``max_hold``. Words that come later are still
  judged: a backchannel is dropped, other words interrupt.

The pause starts on energy (``Onset``: a 20 ms frame well over the line's noise floor), which comes
a frame or two after the caller's first sound, where Silero's first voiced window comes ~150 ms
later. While the agent is quiet, voice starts turns as pipecat's VAD and transcription strategies
do. The same rules, without the duck and without the long-voice rule, serve ``min_words`` > 0.

Anchors: Vapi's ``acknowledgementPhrases`` never interrupt, LiveKit resumes a false interruption
after ``false_interruption_timeout`` (2 s), pipecat's MinWordsUserTurnStartStrategy counts words
from interim transcripts. Measured by ``bench/run.py --sections bargein``.
"""

from __future__ import annotations

import asyncio
import audioop
import logging
import re
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from pipecat.audio.vad.vad_analyzer import VADState
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    InterimTranscriptionFrame,
    TranscriptionFrame,
    UserBackchannelFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.turns.types import ProcessFrameResult
from pipecat.turns.user_start.base_user_turn_start_strategy import BaseUserTurnStartStrategy
from pipecat.utils.time import time_now_iso8601

from cb.config.models import BACKCHANNELS

log = logging.getLogger("cb.runner.calls")

LONG_VOICE_SECS = 1.0  # voice this long is no backchannel ("mm-hm" is ~0.7 s; LiveKit's min_duration 0.5 s)
CONFIRM_SECS = 0.3  # energy that Silero has not called voice by then (first window ~0.15-0.2 s) was noise
# After the VAD's stop, how long the STT may take to give a voice its words: Whisper on a loaded
# machine took 0.7-1.7 s, and a voice the VAD called speech will get them (a cough it did not, see
# SHORT_WAIT_SECS, ends sooner). Resumed earlier, the agent talks over a caller whose "Wait, stop,"
# paused before "I have a question".
WORDS_WAIT_SECS = 1.5
SHORT_WAIT_SECS = 0.3  # ... after voice too short for the VAD to call it speech ("uh-huh" in 0.24 s)
ONSET_MIN_RMS = 400  # int16 RMS (~ -38 dBFS): the least energy that may pause the agent
ONSET_OVER_FLOOR = 4.0  # ... and 12 dB over the line's noise floor
# Words an STT gives a sound can be more than the sound could hold: Whisper tiny hears Piper's
# 0.68 s "Mm-hm." on the phone as "And then make some." (set after seeing that). Speech runs at
# 2-4 words a second and its loud time is shorter than the words; more than one word plus four a
# second of loud sound is the STT's invention, taken for no words. A fast "no no no wait" can be
# taken for none too: the agent then goes on, and the caller's next words interrupt it.
MAX_WORDS_PER_SEC, MAX_WORDS_SLACK = 4.0, 1
LATE_WORDS_SECS = 6.0  # words this late for a sound over the agent are still judged as over it
NEW_SOUND_SECS = 0.3  # a loud frame after this much quiet is a new sound (a steady noise is one)


def words(text: str) -> tuple[str, ...]:
    """Lower case, letters and apostrophes only, a letter repeated once ("Mm-hmm" -> m hm)."""
    text = re.sub(r"[^a-z']+", " ", text.lower().replace("-", " "))
    return tuple(re.sub(r"(.)\1+", r"\1", w) for w in text.split() if w.strip("'"))


class Phrases:
    """The acknowledgement phrases, and whether a transcript is nothing but them."""

    def __init__(self, phrases: Iterable[str]):
        self._phrases = {words(p) for p in phrases} - {()}
        # "mm-hm" is also said "mmhm": each phrase matches with its words run together
        self._phrases |= {("".join(p),) for p in self._phrases}
        self._longest = max((len(p) for p in self._phrases), default=0)

    def only(self, text: str) -> bool:
        """True when the text has words and every one belongs to an acknowledgement."""
        ws = words(text)
        if not ws or not self._phrases:
            return False
        ok = [True] + [False] * len(ws)  # ok[i]: ws[:i] is a run of phrases
        for i in range(len(ws)):
            if ok[i]:
                for n in range(1, min(self._longest, len(ws) - i) + 1):
                    if ws[i:i + n] in self._phrases:
                        ok[i + n] = True
        return ok[-1]


class Onset:
    """Energy over the line's noise floor, frame by frame: the cheapest sign the caller made a sound.

    The floor follows the quietest frames (minimum statistics): it drops to a quieter frame at once
    and rises ~0.4 dB a frame, so a line that hisses steadily stops counting as sound within ~2 s,
    while a word (with its gaps) does not lift it."""

    def __init__(self, min_rms: int = ONSET_MIN_RMS, over_floor: float = ONSET_OVER_FLOOR):
        self.min_rms, self.over_floor = min_rms, over_floor
        self.floor = 50.0

    def loud(self, pcm: bytes) -> bool:
        rms = audioop.rms(pcm, 2) if pcm else 0
        loud = rms >= max(self.min_rms, self.over_floor * self.floor)
        self.floor = rms if rms < self.floor else self.floor * 1.05 ** 0.1 + 0.5
        return loud


@dataclass
class Episode:
    """One sound of the caller's, from its onset until it is judged."""

    onset: float
    over_agent: bool  # began while the agent talked: words decide if it interrupts
    voiced_at: float | None = None  # Silero's latest voiced window
    vad_started: bool = False
    vad_stopped: bool = False
    loud_secs: float = 0.0  # how much of it was over the onset threshold
    final_text: str = ""
    interim_text: str = ""

    @property
    def text(self) -> str:
        return f"{self.final_text} {self.interim_text}".strip()


class BackchannelStartStrategy(BaseUserTurnStartStrategy):
    """The user turn start strategy of an interruptible agent (see the module docstring).

    ``sound`` and ``voice`` are the VAD analyser's per-frame hooks (on the event loop); frames
    come from the user aggregator as for any start strategy."""

    def __init__(self, phrases: Iterable[str] = BACKCHANNELS, *, min_words: int = 0, duck=None,
                 long_voice_secs: float = LONG_VOICE_SECS, confirm_secs: float = CONFIRM_SECS,
                 words_wait_secs: float = WORDS_WAIT_SECS, short_wait_secs: float = SHORT_WAIT_SECS, clock: Callable[[], float] = time.monotonic,
                 **kwargs):
        super().__init__(**kwargs)
        self.phrases = Phrases(phrases)
        self.min_words = min_words
        self.duck = duck
        self.long_voice_secs = long_voice_secs if min_words == 0 else None
        self.confirm_secs, self.words_wait_secs, self.short_wait_secs = confirm_secs, words_wait_secs, short_wait_secs
        self.clock = clock
        self.onset = Onset()
        self._bot_speaking = False
        self._in_turn = False
        self._episode: Episode | None = None
        self._timer: asyncio.Task | None = None
        self._loud_at = float("-inf")  # the caller's latest loud frame
        self._wordless_at = float("-inf")  # when a sound over the agent ended with its words still due
        self._loud_secs = 0.0  # loud time since the latest episode began (or the one before ended)
        # what it decided (logs, metrics, tests)
        self.backchannels = 0
        self.interruptions = 0  # turns started over the agent
        self.noises = 0  # sounds over the agent that had no words: the agent went on

    # --- the VAD analyser's hooks ------------------------------------------------------------
    def sound(self, pcm: bytes) -> None:
        """Every inbound frame, before the VAD sees it: energy pauses the agent."""
        loud = self.onset.loud(pcm)
        ep = self._episode
        if ep is None and loud and not self._in_turn:
            ep = self._begin()
        elif ep is not None and loud and self.duck is not None and self._bot_speaking \
                and self.clock() - self._loud_at > NEW_SOUND_SECS:
            # A new sound while an earlier one is still judged ("mm-hm", then an interruption before
            # its words came): the pause counts from it, and if it ran out meanwhile it begins again.
            # Else the duck's max_hold, counted from the "mm-hm", let the agent go on over the
            # interruption until its voice or words decided, 0.6-1 s (the barge-in bench's p95).
            if self.duck.holding:
                self.duck.renew()
            else:
                self.duck.close()
        if loud:
            self._loud_at = self.clock()
            self._loud_secs += len(pcm) / 2 / 8000
        if ep is not None and not ep.vad_started and ep.voiced_at is None and self.clock() - ep.onset > self.confirm_secs:
            self._end(noise=True)  # energy that never became voice

    def voice(self, state: VADState) -> None:
        """The VAD's state after each analysed frame."""
        ep = self._episode
        if state in (VADState.STARTING, VADState.SPEAKING):
            if ep is None and not self._in_turn:
                ep = self._begin()
            if ep is not None:
                ep.voiced_at = self.clock()
                if not ep.vad_started:
                    self._cancel_timer()  # the voice went on: not over yet
        elif state == VADState.QUIET and ep is not None and ep.voiced_at is not None and not ep.vad_started \
                and self._timer is None:
            # voice too short to be speech by the VAD: its words, if any, are due soon; a late
            # transcript is still judged (a backchannel dropped, words interrupt)
            self._start_timer(self._words_due(ep, self.short_wait_secs))

    # --- frames -------------------------------------------------------------------------------
    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        if isinstance(frame, BotStartedSpeakingFrame):
            self._bot_speaking = True
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._bot_speaking = False
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            return await self._vad_started()
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            await self._vad_stopped()
        elif isinstance(frame, (TranscriptionFrame, InterimTranscriptionFrame)):
            return await self._transcript(frame)
        return ProcessFrameResult.CONTINUE

    async def handle_user_turn_started(self):
        self._in_turn = True
        self._cancel_timer()
        self._episode = None

    async def handle_user_turn_stopped(self):
        self._in_turn = False

    async def cleanup(self):
        self._cancel_timer()
        await super().cleanup()

    # --- decisions ----------------------------------------------------------------------------
    def _begin(self, pause: bool = True) -> Episode:
        self._episode = Episode(self.clock(), over_agent=self._bot_speaking)
        if pause:
            self._loud_secs = 0.0
        log.debug("a sound begins (agent talking: %s, pause: %s)", self._bot_speaking, pause)
        if self.duck is not None and self._bot_speaking and pause:
            self.duck.close()
        return self._episode

    def _end(self, *, noise: bool = False) -> None:
        """The sound was no interruption: the agent goes on."""
        ep, self._episode = self._episode, None
        if noise and ep is not None and ep.over_agent:
            self.noises += 1
            self._wordless_at = self.clock()
            log.info("a sound over the agent had no words: it goes on (%.0f ms after the sound began)",
                     (self.clock() - ep.onset) * 1000)
        self._cancel_timer()
        if self.duck is not None:
            self.duck.open()

    async def _interrupt(self, why: str = "") -> ProcessFrameResult:
        ep = self._episode
        if ep is not None and ep.over_agent:
            self.interruptions += 1
            log.info("the caller interrupts the agent %.0f ms after the sound began: %s",
                     (self.clock() - ep.onset) * 1000, why)
        await self.trigger_user_turn_started()  # the controller calls handle_user_turn_started
        return ProcessFrameResult.STOP

    def _judged(self) -> bool:
        """Whether the sound is over the agent, so words (not the VAD) decide."""
        ep = self._episode
        if ep is None:
            # a slow STT's words for a sound over the agent may come after it finished talking:
            # an "mm-hm" is then still no turn
            return (self._bot_speaking or self.clock() - self._wordless_at < LATE_WORDS_SECS) and not self._in_turn
        return ep.over_agent and not self._in_turn

    async def _vad_started(self) -> ProcessFrameResult:
        if self._in_turn:
            return ProcessFrameResult.CONTINUE
        ep = self._episode or self._begin()
        ep.vad_started, ep.vad_stopped = True, False
        if not ep.over_agent:
            return await self._interrupt()  # the agent is quiet: voice starts the turn, as pipecat's VAD strategy
        if self.long_voice_secs is not None:
            self._start_timer(self._long_voice(ep))
        return ProcessFrameResult.CONTINUE

    async def _vad_stopped(self) -> None:
        ep = self._episode
        if ep is None or self._in_turn:
            return
        ep.vad_stopped = True
        self._start_timer(self._words_due(ep, self.words_wait_secs))

    async def _transcript(self, frame: TranscriptionFrame | InterimTranscriptionFrame) -> ProcessFrameResult:
        if self._in_turn or not frame.text.strip():
            return ProcessFrameResult.CONTINUE
        if not self._judged():
            return await self._interrupt()  # as pipecat's transcription strategy: words start a turn
        ep = self._episode or self._begin(pause=False)  # words of a sound already judged: no new pause
        if len(words(frame.text)) > MAX_WORDS_SLACK + MAX_WORDS_PER_SEC * self._loud_secs:
            log.info("words %r for %.2f s of sound over the agent: the STT's invention, taken for none",
                     frame.text, self._loud_secs)
            if isinstance(frame, TranscriptionFrame):
                await self.trigger_reset_aggregation()
            return ProcessFrameResult.CONTINUE
        if isinstance(frame, TranscriptionFrame):
            ep.final_text, ep.interim_text = f"{ep.final_text} {frame.text}".strip(), ""
        else:
            ep.interim_text = frame.text
        if self.phrases.only(ep.text):
            if isinstance(frame, TranscriptionFrame):
                await self._backchannel(ep)
            return ProcessFrameResult.CONTINUE
        if len(words(ep.text)) >= max(1, self.min_words):
            return await self._interrupt(f"words {ep.text!r}")
        if isinstance(frame, TranscriptionFrame):
            # too few words to interrupt (min_words): dropped, as pipecat's MinWords strategy does
            await self.trigger_reset_aggregation()
            if ep.vad_stopped or not ep.vad_started:
                self._end()
        return ProcessFrameResult.CONTINUE

    async def _backchannel(self, ep: Episode) -> None:
        self.backchannels += 1
        log.info("backchannel %r over the agent: it goes on (%.0f ms after the sound began)", ep.final_text,
                 (self.clock() - ep.onset) * 1000)
        await self.trigger_reset_aggregation()  # out of the user's words: the LLM never sees it
        await self.push_frame(UserBackchannelFrame(text=ep.final_text, user_id="", timestamp=time_now_iso8601()))
        ep.final_text = ""  # out of the words: what comes next is judged alone
        # The caller quiet now: the agent goes on. Still sounding (more words coming, or a segmented
        # STT's late words for an earlier sound while the caller starts another): the rest decides.
        if self.clock() - self._loud_at > 0.1 and (ep.vad_stopped or not ep.vad_started):
            self._end()

    async def _long_voice(self, ep: Episode) -> None:
        await asyncio.sleep(max(0.0, ep.onset + self.long_voice_secs - self.clock()))
        # still voiced in the last 100 ms, and no words that made it a backchannel
        while self._episode is ep and not ep.vad_stopped:
            if ep.voiced_at is not None and self.clock() - ep.voiced_at < 0.1 and not self.phrases.only(ep.text):
                self._timer = None
                await self._interrupt(f"voice past {self.long_voice_secs} s")
                return
            await asyncio.sleep(0.02)

    async def _words_due(self, ep: Episode, wait: float) -> None:
        await asyncio.sleep(wait)
        if self._episode is ep:
            self._timer = None
            self._end(noise=not ep.text)

    def _start_timer(self, coro) -> None:
        self._cancel_timer()
        self._timer = self.task_manager.create_task(coro, f"{self}::timer")

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and not timer.done() and timer is not asyncio.current_task():
            timer.cancel()


def listen(vad, duck=None, strategy: BackchannelStartStrategy | None = None) -> None:
    """Hook the call's VAD analyser: every inbound frame's energy and the VAD's state go to the
    strategy. With no strategy (CB_BACKCHANNELS=0, the figure before backchannels in the bench) the
    duck pauses on the first voiced window and goes on when the VAD is quiet, as it used to."""
    if strategy is not None:
        analyze = vad.analyze_audio

        async def analyze_audio(buffer: bytes) -> VADState:
            strategy.sound(buffer)
            return await analyze(buffer)

        vad.analyze_audio = analyze_audio
        vad.on_state = strategy.voice
    elif duck is not None:
        vad.on_state = lambda state: duck.open() if state == VADState.QUIET else duck.close()
