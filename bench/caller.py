"""The benchmark caller: Twilio's side of a call with a stopwatch on every frame, and a script.

The wire is ``TwilioPeer``'s (cb.plugins.local.twilio_peer), the same as ``cb call``'s: it signs
and posts the voice webhook, follows the TwiML to the Media Streams WebSocket and sends a 20 ms
mu-law frame on an absolute clock, as Twilio does, whatever else is going on; it keeps the send
time of every frame it sent and the arrival time of every frame and ``clear`` it received. On top
of it this caller runs a script of steps: speak a turn (after the agent has finished), talk over
the agent (barge-in), or make a short noise over it (a cough, an "mm-hm"), and notes which frame
each step's audio starts on.

Time model: a frame carries the 20 ms of audio captured just before it is sent, so the sample at
offset k of a frame sent at t was captured at t - (159 - k) / 8000 s. Latencies start at the
captured time of the caller's sample and end at the arrival of the agent's frame (a real phone
starts playing it then). Everything is time.monotonic(); ``analyse`` turns the raw trace into
figures after the call, so the hot path does no more than a real peer would.

Unlike cb.plugins.local.caller (which also listens, with Whisper), this caller never spends CPU
on what the agent says: a hundred of them must fit beside the runner on two cores.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from cb.plugins.local import twilio_peer

from .voice import FRAME_SAMPLES, RATE, Utterance


@dataclass(frozen=True)
class Step:
    """``turn``: wait until the agent is quiet, then speak. ``barge``/``burst``: wait until the
    agent is talking, ``after_ms`` more, then speak over it (a barge-in should stop the agent, a
    burst should not)."""

    kind: str  # turn | barge | burst
    utterance: Utterance
    after_ms: int = 600
    pause_ms: int = 300  # for a turn: silence after the agent stops, before speaking


@dataclass
class Sent:
    step: Step
    first_frame: int  # global index of the step's first frame
    quiet_after: float | None = None  # for a turn: when the agent's previous utterance ended


@dataclass
class Trace(twilio_peer.Trace):
    """Everything the caller saw, raw (the peer's trace), and where each step's audio went."""

    steps: list[Sent] = field(default_factory=list)

    def captured(self, step: Sent, sample: int) -> float:
        """When the utterance's ``sample`` was captured (see the module's time model)."""
        frame, offset = divmod(sample, FRAME_SAMPLES)
        return self.sent_at[step.first_frame + frame] - (FRAME_SAMPLES - 1 - offset) / RATE


class BenchCaller(twilio_peer.TwilioPeer):
    trace: Trace

    def __init__(self, runner_url: str, token: str, to_number: str, steps: list[Step], *,
                 quiet_ms: int = 400, step_timeout: float = 20.0, hangup_after_ms: int = 300):
        super().__init__(runner_url, token, to_number=to_number, trace=Trace())
        self.steps = steps
        self.quiet = quiet_ms / 1000
        self.step_timeout = step_timeout
        self.hangup_after = hangup_after_ms / 1000
        self._spoke_end = 0.0  # when the caller's last utterance finished sending

    def _agent_quiet(self) -> bool:
        """The agent has answered the caller's last utterance and stopped talking."""
        return self.last_media > self._spoke_end and time.monotonic() - self.last_media >= self.quiet

    def _agent_talking_since(self, since: float) -> bool:
        return self.last_media > since and time.monotonic() - self.last_media < 0.1

    async def _run_step(self, step: Step) -> None:
        mark = time.monotonic()
        quiet_after = None
        if step.kind == "turn":
            if not await self.until(self._agent_quiet, self.step_timeout):
                raise TimeoutError("the agent never went quiet")
            quiet_after = self.last_media
            await asyncio.sleep(step.pause_ms / 1000)
        else:
            if not await self.until(lambda: self._agent_talking_since(mark), self.step_timeout):
                raise TimeoutError("the agent never started talking")
            await asyncio.sleep(step.after_ms / 1000)
        await self.until(lambda: not self.outbox, 5)
        sent = Sent(step, len(self.trace.sent_at) + len(self.outbox), quiet_after)
        self.outbox.extend(step.utterance.frames)
        self.trace.steps.append(sent)
        await self.until(lambda: not self.outbox, step.utterance.seconds + 5)
        self._spoke_end = time.monotonic()

    async def talk(self) -> None:
        trace = self.trace
        try:
            for step in self.steps:
                await self._run_step(step)
            # Let the agent answer the last step and finish, then hang up.
            last = trace.steps[-1] if trace.steps else None
            if last is not None:
                sent_end = last.first_frame + len(last.step.utterance.frames)
                await self.until(lambda: len(trace.sent_at) >= sent_end, 5)
                await self.until(self._agent_quiet, self.step_timeout)
            await asyncio.sleep(self.hangup_after)
        except TimeoutError as exc:
            trace.error = str(exc)

    async def run(self) -> Trace:
        try:
            await self.call()
        except Exception as exc:  # noqa: BLE001 - a broken call is a result, not a crash
            self.trace.error = self.trace.error or f"{type(exc).__name__}: {exc}"
        return self.trace
