"""When the caller's turn ends: a turn whose words so far stop mid-sentence waits for more.

The VAD's silence (``turn.vad_stop_secs``, 0.2 s) ends a turn, so a caller who pauses to think
("I'd like to book... a cleaning", "my name is... Sarah") used to be answered in the pause, then
talked over. pipecat's smart-turn v3 model was meant for this, but on the bundled Piper voice over
8 kHz telephone audio it calls most such fragments finished (bench/cutoff.py measures both). The
words are a steadier signal: a sentence almost never ends on "to", "for", "the", "and", "um". When
the turn's transcript so far ends on such a word (or a comma or dots), the turn waits until
``turn.unfinished_stop_secs`` (1.2 s) after the caller's last speech instead; the caller's voice in
that time keeps the turn open, as it does in the VAD's own window. A turn that looks finished ends
as before, so the usual turn costs nothing more.

``HoldUnfinished`` goes in front of any pipecat user-turn stop strategy (the VAD's, the preemptive
one in turns.py, smart-turn's): it delays only the strategy's decision to end the turn. An answer
started early on the fragment (preemptive generation) stays held by pipecat's speculation gate
while the turn waits, and is withdrawn when the caller goes on.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from typing import Any

from pipecat.frames.frames import Frame, TranscriptionFrame, VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame

from cb.config.models import UNFINISHED_STOP_SECS  # the default of turn.unfinished_stop_secs

# Words an English sentence next to never ends on: articles and possessives, prepositions,
# conjunctions, subject pronouns, "is", fillers, and the verbs a caller hesitates after on a
# booking line. Words that often end a short answer ("can", "will", "do", "so", "that") are not here:
# taking a finished turn for unfinished costs a second's wait, the other way round a cut-off.
# A segmented STT (Whisper) transcribes each stretch of speech after it ends, so on a loaded machine
# the first stretch's words ("my name is") can arrive after the caller finished the second: while a
# stretch's words are still due and the words so far look unfinished, the turn waits for them too,
# up to this long after the last words came (a stretch that was only a cough never brings words).
WORDS_DUE_MAX_SECS = 3.0

UNFINISHED_WORDS = frozenset("""
a an the my your our his her their
to for of at with from by into about than on in
and or but because if when whether
i we they he she
is was
um uh uhm er erm
like book schedule reschedule
""".split())

_TRAILING_MARK = re.compile(r"(,|\.\.\.|…|-|—)\s*$")
_WORD = re.compile(r"[a-z']+")


def looks_unfinished(text: str) -> bool:
    """True when ``text`` (the turn's transcript so far) stops mid-sentence."""
    text = text.strip().lower()
    if not text:
        return False
    if _TRAILING_MARK.search(text):
        return True
    words = _WORD.findall(text)
    return bool(words) and words[-1].strip("'") in UNFINISHED_WORDS


class HoldUnfinished:
    """A mixin in front of a pipecat ``BaseUserTurnStopStrategy``: its decision to end a turn whose
    transcript looks unfinished waits until ``unfinished_stop_secs`` after the caller's last speech.
    The VAD hearing the caller again (the strategy's ``_discard_pending_end_of_turn``) cancels it."""

    def __init__(self, *args: Any, unfinished_stop_secs: float = UNFINISHED_STOP_SECS, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._unfinished_stop = unfinished_stop_secs
        self._speech_ended: float | None = None  # the caller's last speech, by the VAD's last stop
        self._hold: asyncio.Task | None = None
        self._stretches = 0  # stretches of speech the VAD heard in this turn
        self._transcripts = 0  # final transcripts received in it
        self._holding_turn = False
        self.held = 0  # turns whose end waited because they looked unfinished
        self.resumed = 0  # of those, turns the caller went on with before the wait ran out

    async def process_frame(self, frame: Frame) -> Any:
        if isinstance(frame, VADUserStoppedSpeakingFrame):
            self._speech_ended = time.monotonic() - float(frame.stop_secs or 0.0)
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            self._stretches += 1
        elif isinstance(frame, TranscriptionFrame):
            self._transcripts += 1
        return await super().process_frame(frame)

    def hold_for(self, text: str, now: float, words_due: bool = False) -> float:
        """Seconds the end of a turn with ``text`` waits from ``now`` (0: end it now); with
        ``words_due`` a stretch of the caller's speech is still being transcribed."""
        if not looks_unfinished(text):
            return 0.0
        ended = self._speech_ended if self._speech_ended is not None else now
        return max(0.0, ended + self._unfinished_stop - now, WORDS_DUE_MAX_SECS if words_due else 0.0)

    async def trigger_user_turn_stopped(self, **kwargs: Any) -> None:
        if self._hold is not None:
            # More words arrived while waiting: judge the turn again on them.
            hold, self._hold = self._hold, None
            await self.task_manager.cancel_task(hold)
        wait = self.hold_for(getattr(self, "_text", ""), time.monotonic(), self._stretches > self._transcripts)
        if wait <= 0:
            await super().trigger_user_turn_stopped(**kwargs)
            return
        if not self._holding_turn:
            self.held, self._holding_turn = self.held + 1, True
        self._hold = self.task_manager.create_task(self._end_after(wait, kwargs), f"{self}::hold_unfinished")

    async def _end_after(self, wait: float, kwargs: dict[str, Any]) -> None:
        try:
            await asyncio.sleep(wait)
        except asyncio.CancelledError:
            return
        self._hold = None
        await super().trigger_user_turn_stopped(**kwargs)

    async def _cancel_hold(self) -> None:
        if self._hold is not None:
            hold, self._hold = self._hold, None
            self.resumed += 1
            await self.task_manager.cancel_task(hold)

    async def _discard_pending_end_of_turn(self) -> None:
        # The VAD heard the caller again, or a turn boundary: the turn is not over after all.
        await self._cancel_hold()
        await super()._discard_pending_end_of_turn()

    async def handle_user_turn_stopped(self) -> None:
        self._stretches = self._transcripts = 0
        self._holding_turn = False
        await super().handle_user_turn_stopped()

    async def cleanup(self) -> None:
        if self._hold is not None:
            hold, self._hold = self._hold, None
            await self.task_manager.cancel_task(hold)
        await super().cleanup()


@functools.cache
def holding(strategy: type) -> type:
    """``strategy`` (a pipecat user-turn stop strategy class) with ``HoldUnfinished`` in front."""
    return type(f"Holding{strategy.__name__}", (HoldUnfinished, strategy), {})
