"""The lean call path (runner/calls/pipeline.py): the caller's audio stops at the STT, and the
call's observers are called inline. Both lean on pipecat internals, pinned here so an upgrade that
moves them fails a test instead of silently costing every call its CPU again."""

from __future__ import annotations

import asyncio

from pipecat.frames.frames import EndFrame, InputAudioRawFrame, TextFrame
from pipecat.observers.base_observer import BaseObserver
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.service_switcher import ServiceSwitcher, ServiceSwitcherStrategyFailover
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.filters.identity_filter import IdentityFilter
from pipecat.workers.runner import WorkerRunner

from cb.plugins.scripted.stt import provider as scripted_stt
from cb.providers import CallAudio, PartSpec
from cb.runner.calls import pipeline
from cb.runner.calls.observe import InlineObservers


def stt():
    return scripted_stt.create(PartSpec("scripted"), CallAudio(8000))


def test_audio_stops_at_the_stt_and_at_each_service_of_a_fallback_switcher():
    one = stt()
    assert one._audio_passthrough is True  # pipecat's default: every input frame goes on
    pipeline.audio_stops_at(one)
    assert one._audio_passthrough is False
    a, b = stt(), stt()
    switcher = ServiceSwitcher([a, b], strategy_type=ServiceSwitcherStrategyFailover)
    pipeline.audio_stops_at(switcher)
    assert (a._audio_passthrough, b._audio_passthrough) == (False, False)


class Seen(BaseObserver):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.pushes: list[tuple[str, bool]] = []

    async def on_push_frame(self, data):
        if isinstance(data.frame, (TextFrame, InputAudioRawFrame)):
            self.pushes.append((type(data.source).__name__, data.first_push))


class Broken(BaseObserver):
    async def on_push_frame(self, data):
        raise RuntimeError("an observer that fails")


def test_inline_observers_hear_every_push_in_order_with_first_push_and_no_proxy_tasks():
    every, once = Seen(), Seen(observe_every_push=False)

    async def go():
        worker = PipelineWorker(Pipeline([IdentityFilter(), IdentityFilter()]), enable_rtvi=False,
                                enable_turn_tracking=False, idle_timeout_secs=None, cancel_on_idle_timeout=False)
        inline = InlineObservers.install(worker, [every, Broken(), once])
        await worker.queue_frames([TextFrame("hello"), EndFrame()])
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        await runner.run()
        assert inline._proxies == {}  # no queue and no task per observer

    asyncio.run(go())
    # every hop from the worker's source through both filters to its sink, the first one marked
    assert [first for _, first in every.pushes] == [True] + [False] * 4, every.pushes
    assert [name for name, _ in every.pushes].count("IdentityFilter") == 2
    assert len(once.pushes) == 1 and once.pushes[0][1] is True  # the failing observer in between broke nothing
