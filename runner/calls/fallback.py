"""A pipeline part with a declared fallback: the primary until it fails, then the fallback.

``pipeline.llm.fallback: {provider, model, options}`` (and the same for ``stt`` and ``tts``) puts
both services of that part behind one pipecat ``ServiceSwitcher``. pipecat's own failover strategy
switches only when a service declares itself finished for good, which a 429, a 5xx or a dropped
socket never does (the service could carry on, it just did not answer this time), so the call
would end on the first one. ``FailForward`` switches on any provider error that is not a tool's
(pipecat's APPLICATION category), moves forward only (never back to the primary that failed
this call), and leaves the error to failure.py once no service is left.

When the LLM fails over, the turn it failed on is answered by the fallback at once (the caller's
words are already in the context), so the caller hears an answer rather than silence. A failed
STT or TTS takes up again from the next audio or sentence. Each takeover is noted on the call
(``took_over``), which puts it in the record and the webhook (``fallbacks``).
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from pipecat.frames.frames import ErrorFrame, LLMContextFrame
from pipecat.pipeline.llm_switcher import LLMSwitcher
from pipecat.pipeline.service_switcher import ServiceSwitcher, ServiceSwitcherStrategyManual
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.utils.errors import ErrorCategory

from cb.providers import pipeline as providers

log = logging.getLogger("cb.runner.calls")


class FailForward(ServiceSwitcherStrategyManual):
    """Switch to the next service on any provider error that is not a tool's; never back."""

    async def handle_error(self, error: ErrorFrame) -> FrameProcessor | None:
        if error.category == ErrorCategory.APPLICATION:
            return None
        self.last_error = error
        after = self._services.index(self._active_service) + 1
        for candidate in self._services[after:]:
            if candidate.is_usable:
                return await self._set_active_if_available(candidate)
        return None


def create(kind: str, part: providers.PartSpec, audio: providers.CallAudio) -> Any:
    """The call's service for one part: the provider itself, or a switcher over it and its fallback.
    A fallback that cannot be built (its key missing) is an error like the primary's: the agent
    asked for it."""
    primary = providers.create(kind, part, audio)
    if part.fallback is None:
        return primary
    backup = providers.create(kind, part.fallback, audio)
    switcher_type = LLMSwitcher if kind == "llm" else ServiceSwitcher
    switcher = switcher_type([primary, backup], strategy_type=FailForward)
    switcher.cb_names = {primary: part.provider, backup: part.fallback.provider}
    return switcher


def owns(service: Any, processor: Any) -> bool:
    """Whether ``processor`` is ``service`` or one of the services a fallback switcher holds."""
    return processor is service or processor in (getattr(service, "services", None) or ())


def watch(kind: str, service: Any, took_over: Callable[[str], Awaitable[None]], *, context: Any = None) -> None:
    """Note each takeover with ``took_over("llm: openai failed (...); scripted took over")``, and
    have a fallback LLM answer the turn its primary failed on (``context``)."""
    if not isinstance(service, ServiceSwitcher):
        return
    strategy = service.strategy

    @strategy.event_handler("on_service_switched")
    async def _switched(_strategy: Any, active: Any) -> None:
        error = getattr(strategy, "last_error", None)
        failed = getattr(error, "processor", None)
        names = service.cb_names
        note = (f"{kind}: {names.get(failed, 'the primary')} failed ({str(getattr(error, 'error', '?'))[:200]}); "
                f"{names.get(active, type(active).__name__)} took over")
        log.warning("%s", note)
        await took_over(note)
        if kind == "llm" and context is not None:
            await active.queue_frame(LLMContextFrame(context))
