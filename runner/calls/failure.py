"""When a provider fails, the caller hears why the call ends instead of silence.

Two moments: the call's pipeline cannot be built (a missing key, an SDK not installed, a local
model that will not load), and a provider fails mid-call (a 429, a 5xx, a dropped socket, bad
credentials found on the first request). Either way the caller hears one short apology and a
clean hang-up, and the reason goes into the call record (``error``, end reason ``error``) and
from there into the webhook. Errors a tool causes (pipecat's APPLICATION category) are the tool
log's business and never end the call.

A call that cannot build its pipeline still gets a small one for the apology: the transport and
the agent's TTS, or the offline profile's (Piper) when the TTS is what failed; if no TTS can be
made at all, the call hangs up without a word, the reason still recorded.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pipecat.frames.frames import EndFrame, ErrorFrame, TTSSpeakFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.utils.errors import ErrorCategory
from pipecat.workers.runner import WorkerRunner

from cb.providers import pipeline as providers

from .fallback import owns

log = logging.getLogger("cb.runner.calls")

APOLOGY = "I'm sorry, we're having technical trouble and can't continue this call. Please call back later. Goodbye."
#: The apology's own budget: a call whose apology cannot be spoken in this long hangs up anyway.
APOLOGY_TIMEOUT_SEC = 20.0


def provider_error(frame: ErrorFrame, parts: dict[str, Any]) -> str | None:
    """``"llm provider 'openai' failed: ..."`` when ``frame`` comes from one of the call's
    providers (``parts``: kind -> service) and is not a tool's failure, else None."""
    if frame.category == ErrorCategory.APPLICATION:
        return None
    kind = next((k for k, service in parts.items() if owns(service, frame.processor)), None)
    if kind is None:
        return None
    names = getattr(parts[kind], "cb_names", None) or {}  # a part with a fallback (fallback.py)
    name = names.get(frame.processor) or " and ".join(names.values()) if names else \
        getattr(frame.processor, "cb_provider", None) or type(frame.processor).__name__
    return f"{kind} provider {name!r} failed: {frame.error}"[:500]


def watch(worker: Any, parts: dict[str, Any], session: Any) -> None:
    """On the first provider error of a live call: record it, apologise (unless the TTS is what
    failed), and end the call once the apology has played."""

    @worker.event_handler("on_pipeline_error")
    async def _failed(_worker: Any, frame: ErrorFrame) -> None:
        reason = provider_error(frame, parts)
        if reason is None or session.error is not None:
            return
        if owns(parts.get("tts"), frame.processor) and getattr(frame.processor, "is_usable", False):
            # pipecat reports each TTS context that ends without audio (a reply cancelled under
            # load can leave one) and marks the service unusable only when they keep coming: the
            # call goes on until then.
            session.log.warning("%s: the TTS is still usable, the call goes on", reason)
            return
        session.error = reason
        session.set_reason("error")
        session.log.error("%s: apologising and hanging up", reason)
        if not owns(parts.get("tts"), frame.processor):
            await worker.queue_frame(TTSSpeakFrame(APOLOGY))
        await session.end("error")


def _apology_tts(plan: Any, default_profile: str, audio: Any) -> Any:
    parts = providers.resolve(plan.settings.pipeline.model_dump(mode="json"), default_profile)
    for part in (parts["tts"], providers.PartSpec(*providers.PROFILES["local"]["tts"])):
        try:
            return providers.create("tts", part, audio)
        except Exception:  # noqa: BLE001 - try the next one, then say nothing
            continue
    return None


async def apologise(plan: Any, websocket: Any, stream: Any, *, default_profile: str) -> bool:
    """Speak the apology on a call whose pipeline could not be built, then hang up; True if spoken."""
    from .pipeline import SAMPLE_RATE, Serializer
    from pipecat.serializers.twilio import TwilioFrameSerializer
    from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport

    audio = providers.CallAudio(SAMPLE_RATE, plan.settings.language, plan.settings.voice)
    tts = _apology_tts(plan, default_profile, audio)
    serializer = Serializer(
        stream_sid=stream.stream_sid, call_sid=stream.call_sid, account_sid=stream.account_sid,
        auth_token=stream.auth_token, base_url=stream.api_base_url,
        params=TwilioFrameSerializer.InputParams(auto_hang_up=bool(stream.auth_token and stream.call_sid)))
    transport = FastAPIWebsocketTransport(websocket, FastAPIWebsocketParams(
        audio_in_enabled=True, audio_out_enabled=True, add_wav_header=False, serializer=serializer,
        audio_out_10ms_chunks=2, allowed_origins=[]))
    worker = PipelineWorker(
        Pipeline([transport.input(), *([tts] if tts is not None else []), transport.output()]),
        name=f"{plan.call_id}-apology", enable_rtvi=False, idle_timeout_secs=None,
        params=PipelineParams(audio_in_sample_rate=SAMPLE_RATE, audio_out_sample_rate=SAMPLE_RATE,
                              enable_metrics=False, send_initial_empty_metrics=False))

    @transport.event_handler("on_client_disconnected")
    async def _gone(_transport: Any, _ws: Any) -> None:
        await worker.cancel(reason="caller_hangup")

    if tts is not None:
        await worker.queue_frame(TTSSpeakFrame(APOLOGY))
    await worker.queue_frame(EndFrame())
    runner = WorkerRunner(handle_sigint=False, check_dangling_tasks=False)
    await runner.add_workers(worker)
    try:
        await asyncio.wait_for(runner.run(), APOLOGY_TIMEOUT_SEC)
    except asyncio.TimeoutError:
        log.warning("call %s: the apology did not finish in %ss", plan.call_id, APOLOGY_TIMEOUT_SEC)
    return tts is not None
