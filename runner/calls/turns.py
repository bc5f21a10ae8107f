"""Ending the caller's turn: the VAD's silence decides, the STT's final transcript starts the answer.

A streaming STT usually finalises the caller's words before the VAD has heard ``vad_stop_secs`` of
silence (150 ms after the last word against ~260 ms). Waiting for the VAD before asking the LLM
leaves that gap on the caller's clock. With ``turn.preemptive_generation`` the LLM is asked on the
final transcript while the VAD still waits; pipecat's speculation gate in the LLM service holds
the answer until the VAD confirms the turn, and it is thrown away when the caller said more:

- another transcript (interim or final) arrives: the answer is withdrawn and, on a final, asked
  again with the longer text;
- the turn ends with text other than what was speculated on: withdrawn, and the LLM runs on the
  committed text as it would have without speculation;
- the speculative answer wants a tool: pipecat withdraws it, and the confirmed turn runs the tool
  (a tool's side effects never happen on a guess).

The caller therefore never hears an answer to words they did not finish; the cost is an LLM
request wasted each time the caller pauses long enough for the STT to finalise and then goes on.
"""

from __future__ import annotations

from pipecat.frames.frames import EagerEndOfTurnCancelFrame, Frame, InterimTranscriptionFrame, TranscriptionFrame
from pipecat.turns.types import ProcessFrameResult, UserTurnSpeculation
from pipecat.turns.user_stop import NormalizedMatch, SpeechTimeoutUserTurnStopStrategy


class PreemptiveStopStrategy(SpeechTimeoutUserTurnStopStrategy):
    """SpeechTimeoutUserTurnStopStrategy that speculates on a transcript that beats the VAD."""

    def __init__(self, **kwargs):
        # The VAD's stop_secs already is the silence that ends a turn: wait no longer than that.
        kwargs.setdefault("user_speech_timeout", 0.0)
        super().__init__(**kwargs)
        self._match = NormalizedMatch()
        self._speculated: str | None = None
        self.confirmed = 0  # answers that were ready when the turn ended, and were played
        self.withdrawn = 0  # guesses thrown away: each an LLM request spent for nothing

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        if isinstance(frame, EagerEndOfTurnCancelFrame):
            # Withdrawn elsewhere: the LLM service does it when the guess wants a tool. The turn's
            # end must then run the LLM again, not confirm an answer that no longer exists.
            if self._speculated is not None:
                self.withdrawn += 1
            self._speculated = None
        elif isinstance(frame, (TranscriptionFrame, InterimTranscriptionFrame)) and self._speculated is not None:
            # The caller said more than the speculation answered.
            await self._withdraw()
        result = await super().process_frame(frame)
        # The parent may have ended the turn on this transcript (the VAD had already stopped);
        # otherwise the caller is still "speaking" by the VAD and the answer can start now.
        if isinstance(frame, TranscriptionFrame) and self._vad_user_speaking and self._text.strip():
            self._speculated = self._text
            await self.trigger_user_turn_inference_triggered(speculation=UserTurnSpeculation(text=self._text))
        return result

    async def trigger_user_turn_stopped(self, *, enable_user_speaking_frames: bool | None = None):
        speculated, self._speculated = self._speculated, None
        if speculated is not None and self._match.matches(speculated, self._text):
            # The answer is already generated (and held): only the turn's end is left to announce,
            # and the UserStoppedSpeakingFrame it sends releases the answer.
            self.confirmed += 1
            await self.trigger_user_turn_finalized(enable_user_speaking_frames=enable_user_speaking_frames,
                                                   confirms_speculation=True)
            return
        if speculated is not None:
            self.withdrawn += 1
            await self.trigger_user_turn_speculation_cancelled()
        await super().trigger_user_turn_stopped(enable_user_speaking_frames=enable_user_speaking_frames)

    async def handle_user_turn_started(self):
        await self._withdraw()
        await super().handle_user_turn_started()

    async def handle_user_turn_stopped(self):
        # A turn ended some other way (the stop watchdog, an interruption): nothing will confirm it.
        await self._withdraw()
        await super().handle_user_turn_stopped()

    async def _withdraw(self) -> None:
        if self._speculated is not None:
            self._speculated = None
            self.withdrawn += 1
            await self.trigger_user_turn_speculation_cancelled()
