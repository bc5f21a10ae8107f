"""The duck: the agent's audio pauses on the caller's first sound and goes on when the sound was
not a barge-in (backchannel.py decides which). What it does to barge-in latency is measured by
`bench/run.py --sections bargein` (CB_DUCK=0 for the figure without it)."""

from __future__ import annotations

import asyncio
import time

from cb.runner.calls.duck import Duck


class Line:
    """The output transport's write_audio_frame: when each frame went out."""

    def __init__(self):
        self.sent: list[tuple[float, str]] = []

    async def write(self, frame: str) -> bool:
        self.sent.append((time.monotonic(), frame))
        return True


def test_a_blip_pauses_the_agent_and_the_answer_goes_on_where_it_paused():
    async def go():
        duck, line = Duck(max_hold=1.0), Line()
        write = duck.guard(line.write)
        await write("f1")
        duck.close()  # the caller's first sound
        held = asyncio.create_task(write("f2"))
        await asyncio.sleep(0.1)
        assert [f for _, f in line.sent] == ["f1"]
        assert not held.done() and duck.holding
        quiet_at = time.monotonic()
        duck.open()  # a cough, an "mm-hm": no barge-in
        await held
        return line, quiet_at, duck

    line, quiet_at, duck = asyncio.run(go())
    assert [f for _, f in line.sent] == ["f1", "f2"] and line.sent[1][0] >= quiet_at and duck.holds == 1
    assert duck.resumed == 1 and 0.09 <= duck.held_secs < 0.5


def test_a_barge_in_drops_the_held_frame():
    async def go():
        duck, line = Duck(max_hold=1.0), Line()
        write = duck.guard(line.write)
        duck.close()
        held = asyncio.create_task(write("old answer"))
        await asyncio.sleep(0.1)
        assert not held.done()  # decided, but the interruption has not reached the transport yet
        # The transport sends Twilio's clear: pipecat has drained its queue but would let the
        # frame being written through.
        duck.cleared()
        assert await held is False and duck.dropped == 1
        assert not duck.holding and duck.resumed == 0  # the answer to the interruption flows
        await write("new answer")
        return line

    assert [f for _, f in asyncio.run(go()).sent] == ["new answer"]


def test_a_voice_that_neither_stops_nor_interrupts_holds_the_agent_at_most_max_hold():
    async def go():
        duck, line = Duck(max_hold=0.2), Line()
        write = duck.guard(line.write)
        closed_at = time.monotonic()
        duck.close()
        await write("f1")  # released by max_hold
        await write("f2")  # the same sound: not held again
        return line, closed_at

    line, closed_at = asyncio.run(go())
    assert [f for _, f in line.sent] == ["f1", "f2"]
    assert 0.18 <= line.sent[0][0] - closed_at < 0.5 and line.sent[1][0] - line.sent[0][0] < 0.05


def test_when_the_line_is_quiet_nothing_waits():
    async def go():
        duck, line = Duck(max_hold=1.0), Line()
        write = duck.guard(line.write)
        duck.open()
        started = time.monotonic()
        for i in range(50):
            await write(i)
        return time.monotonic() - started, line

    took, line = asyncio.run(go())
    assert len(line.sent) == 50 and took < 0.05
