"""Which provider errors end a call: a TTS that pipecat still counts as usable does not."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

from pipecat.frames.frames import ErrorFrame
from pipecat.utils.errors import ErrorCategory

from cb.runner.calls import failure


class Worker:
    def __init__(self):
        self.handlers, self.queued = {}, []

    def event_handler(self, name):
        def register(fn):
            self.handlers[name] = fn
            return fn
        return register

    async def queue_frame(self, frame):
        self.queued.append(frame)


class Session:
    def __init__(self):
        self.error, self.reason, self.ended = None, None, None
        self.log = logging.getLogger("test")

    def set_reason(self, reason):
        self.reason = reason

    async def end(self, reason):
        self.ended = reason


def fail(processor, message):
    worker, session = Worker(), Session()
    parts = {"llm": SimpleNamespace(cb_provider="openai"), "tts": processor}
    failure.watch(worker, parts, session)
    frame = ErrorFrame(error=message, processor=processor, category=ErrorCategory.UNKNOWN)
    asyncio.run(worker.handlers["on_pipeline_error"](worker, frame))
    return session


def test_one_silent_tts_context_does_not_end_the_call():
    tts = SimpleNamespace(is_usable=True, cb_provider="piper")
    session = fail(tts, "TTS context abc completed with no audio")
    assert session.error is None and session.ended is None


def test_a_tts_that_pipecat_marked_unusable_ends_the_call():
    tts = SimpleNamespace(is_usable=False, cb_provider="piper")
    session = fail(tts, "3 consecutive TTS contexts completed with no audio")
    assert session.ended == "error" and "tts provider" in session.error
