"""One call's pipecat pipeline, built from its CallPlan (the pinned agent revision).

transport in (Twilio serializer) -> VAD (shared Silero) -> STT -> user turn aggregation
-> LLM (streaming, tools) -> TTS (sentence by sentence) -> transport out -> assistant aggregation

Turn-taking: the VAD's silence ends a turn (``turn.vad_stop_secs``); with
``turn.preemptive_generation`` (the default) the LLM starts on an STT final that arrives before
that silence, its answer held until the turn ends (turns.py). Smart-turn is opt-in because it is
wrong on synthetic speech. Barge-in follows ``pipeline.interruptions``: the caller's speech
must last ``min_speech_ms`` (and, while the agent talks, ``min_words``) before it interrupts;
then pipecat cancels the LLM and TTS, drops queued audio and the serializer sends Twilio ``clear``.
Until then the agent's audio pauses from the caller's first voiced window (duck.py). The agent's
audio goes out 60 ms ahead of the caller's ear (pacing.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import Frame, InterruptionFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.serializers.twilio import TwilioFrameSerializer
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
from pipecat.turns.user_start import (
    MinWordsUserTurnStartStrategy,
    TranscriptionUserTurnStartStrategy,
    VADUserTurnStartStrategy,
)
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy, TurnAnalyzerUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies

from cb.config.models import Pipeline as PipelineSettings
from cb.providers import pipeline as providers

from . import fallback, pacing
from .callplan import CallPlan
from .backchannel import BackchannelStartStrategy, listen
from .duck import MAX_HOLD_SECS, Duck
from .observe import CallObserver, InlineObservers
from .turn_end import holding
from .turns import PreemptiveStopStrategy

SAMPLE_RATE = 8000  # telephone audio end to end: no resampling on the way in or out
FRAME_MS = 20
# A lean call path (bench/README.md, "Where the time goes"): the caller's audio stops at the STT,
# the call's observer is called inline instead of through a queue and a task per observer, and
# pipecat's unused turn-tracking observer is off. CB_LEAN=0 restores pipecat's defaults for
# before/after benchmarks.
LEAN = os.environ.get("CB_LEAN", "") != "0"


@dataclass(frozen=True)
class Stream:
    """What the Media Streams ``start`` event told us, plus how to hang up over REST."""

    stream_sid: str
    call_sid: str | None = None
    account_sid: str | None = None
    auth_token: str | None = None  # set only for real Twilio calls: enables hang-up over REST
    api_base_url: str | None = None


class Serializer(TwilioFrameSerializer):
    """Twilio's serializer, telling the duck when it writes the ``clear`` of a barge-in."""

    def __init__(self, *, on_clear: Callable[[], None] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self._on_clear = on_clear

    async def serialize(self, frame: Frame) -> str | bytes | None:
        if self._on_clear is not None and isinstance(frame, InterruptionFrame):
            self._on_clear()
        return await super().serialize(frame)


@dataclass
class CallPipeline:
    worker: PipelineWorker
    transport: FastAPIWebsocketTransport
    observer: CallObserver
    user_aggregator: Any
    context: LLMContext
    preemptive: PreemptiveStopStrategy | None = None
    duck: Duck | None = None
    services: dict[str, Any] = field(default_factory=dict)  # kind -> the call's stt/llm/tts (failure.py)


def turn_strategies(pipeline: PipelineSettings, duck: Duck | None = None) -> UserTurnStrategies:
    turn, interruptions = pipeline.turn, pipeline.interruptions
    enabled, min_words = interruptions.enabled, interruptions.min_words
    if enabled and os.environ.get("CB_BACKCHANNELS", "") != "0":  # =0: before/after benchmarks
        # backchannel.py: over the agent, words decide; "mm-hm" pauses it and it goes on
        start = [BackchannelStartStrategy(interruptions.backchannel_phrases, min_words=min_words, duck=duck)]
    elif enabled and min_words > 0:
        start = [MinWordsUserTurnStartStrategy(min_words=min_words)]
    else:
        start = [VADUserTurnStartStrategy(enable_interruptions=enabled),
                 TranscriptionUserTurnStartStrategy(enable_interruptions=enabled)]
    hold = {"unfinished_stop_secs": turn.unfinished_stop}  # turn_end.py: a mid-sentence pause waits longer
    if turn.smart_turn:
        from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3

        stop = [holding(TurnAnalyzerUserTurnStopStrategy)(turn_analyzer=LocalSmartTurnAnalyzerV3(), **hold)]
    elif turn.preemptive_generation:
        stop = [holding(PreemptiveStopStrategy)(**hold)]
    else:
        # The VAD's stop_secs already is the silence that ends a turn: wait no longer than that.
        stop = [holding(SpeechTimeoutUserTurnStopStrategy)(user_speech_timeout=0.0, **hold)]
    return UserTurnStrategies(start=start, stop=stop)


def vad_for(pipeline: PipelineSettings):
    turn = pipeline.turn
    start = max(turn.vad_start_secs, pipeline.interruptions.min_speech_ms / 1000)
    return providers.vad_analyzer(start_secs=start, stop_secs=turn.vad_stop_secs)


def duck_for(pipeline: PipelineSettings, vad: Any) -> Duck | None:
    """A duck when speech alone may interrupt the agent (duck.py); CB_DUCK=0 turns it off for
    before/after benchmarks."""
    interruptions = pipeline.interruptions
    if not interruptions.enabled or interruptions.min_words > 0 \
            or os.environ.get("CB_DUCK", "") == "0":
        return None
    return Duck(max_hold=MAX_HOLD_SECS)


def audio_stops_at(stt: Any) -> None:
    """The caller's audio goes no further than the STT (and each service of its fallback switcher).

    pipecat's STT passes every 20 ms input frame on by default, through the user turn, the LLM,
    the TTS, the output transport and the assistant turn: a queue and a task hop each, 50 times a
    second a call, and none of them reads it. Only smart-turn and an outbound call's screening
    gate do, and a pipeline with either keeps it. The transport's own push (the one the call's
    observer, the recording and usage read) is before the STT and stays."""
    for service in getattr(stt, "services", None) or (stt,):
        if hasattr(service, "_audio_passthrough"):  # pipecat's STTService (test_pipeline_lean.py pins it)
            service._audio_passthrough = False


def tools_schema(tools: dict[str, Any]) -> ToolsSchema | None:
    """The LLM's view of the agent's tools (name -> ToolSpec)."""
    schemas = [FunctionSchema(name=name, description=spec.description,
                              properties=dict(spec.parameters.get("properties") or {}),
                              required=list(spec.parameters.get("required") or []))
               for name, spec in tools.items()]
    return ToolsSchema(standard_tools=schemas) if schemas else None


def register_tools(llm: Any, plan: CallPlan, executor: Any) -> None:
    """Hand the agent's tools to the LLM service; the executor is pipecat's handler shape.

    An HTTP tool is not cancelled when the caller talks over it: a booking that went through must
    reach the LLM, or the agent would deny what it did (and the tool log would say cancelled).
    """
    for name in executor.tools:
        runs_http = "http" in (plan.tools.get(name) or {})  # an applied Tool spec; built-ins have none
        llm.register_function(name, executor, cancel_on_interruption=not runs_http)


def build(plan: CallPlan, websocket: Any, stream: Stream, *, default_profile: str,
          tools: Any, observer: CallObserver, gate: Any = None) -> CallPipeline:
    """Everything for one call; raises providers.ProviderUnavailable when a part cannot be made.
    ``gate`` (an outbound call's screening.ScreenGate) goes between STT and the user turn."""
    agent = plan.settings
    parts = providers.resolve(agent.pipeline.model_dump(mode="json"), default_profile)
    # The STT's hints: declared terms, and the call's context values the agent declares (not the
    # built-ins call/now).
    terms = providers.vocabulary(agent.pipeline.vocabulary, {k: plan.context.get(k) for k in agent.context})
    audio = providers.CallAudio(SAMPLE_RATE, agent.language, agent.voice, terms)
    stt = fallback.create("stt", parts["stt"], audio)  # a declared fallback puts a switcher here
    llm = fallback.create("llm", parts["llm"], audio)
    tts = fallback.create("tts", parts["tts"], audio)

    vad = vad_for(agent.pipeline)
    duck = duck_for(agent.pipeline, vad)
    lead: pacing.Lead | None = None

    def cleared() -> None:  # the serializer is writing a barge-in's ``clear``
        if duck is not None:
            duck.cleared()
        if lead is not None:
            lead.reset()

    serializer = Serializer(
        on_clear=cleared,
        stream_sid=stream.stream_sid, call_sid=stream.call_sid, account_sid=stream.account_sid,
        auth_token=stream.auth_token, base_url=stream.api_base_url,
        params=TwilioFrameSerializer.InputParams(auto_hang_up=bool(stream.auth_token and stream.call_sid)))
    transport = FastAPIWebsocketTransport(websocket, FastAPIWebsocketParams(
        audio_in_enabled=True, audio_out_enabled=True, add_wav_header=False, serializer=serializer,
        audio_out_10ms_chunks=FRAME_MS // 10,  # 20 ms media messages, Twilio's own framing
        allowed_origins=[]))
    lead_secs = pacing.lead_secs()
    if lead_secs > 0:  # a few frames queued at Twilio, so a late write is no gap (pacing.py)
        lead = pacing.install(transport.output(), FRAME_MS / 1000, lead_secs)

    messages: list[dict[str, Any]] = [{"role": "system", "content": plan.instructions}]
    schema = tools_schema(tools.tools)
    context = LLMContext(messages, tools=schema) if schema else LLMContext(messages)
    register_tools(llm, plan, tools)
    strategies = turn_strategies(agent.pipeline, duck)
    listen(vad, duck, next((s for s in strategies.start if isinstance(s, BackchannelStartStrategy)), None))
    pair = LLMContextAggregatorPair(context, user_params=LLMUserAggregatorParams(
        user_turn_strategies=strategies,
        user_idle_timeout=float(agent.phone.silence_timeout_sec)))

    if duck is not None:
        output = transport.output()
        output.write_audio_frame = duck.guard(output.write_audio_frame)
    # keypad digits (Twilio's and SIP's RFC 4733 ``dtmf`` events) reach the LLM as a user turn "DTMF: 12#"
    from pipecat.processors.aggregators.dtmf_aggregator import DTMFAggregator

    pipeline = Pipeline([transport.input(), VADProcessor(vad_analyzer=vad), stt, *([gate] if gate else []),
                         DTMFAggregator(timeout=1.0), pair.user(), llm, tts, transport.output(), pair.assistant()])
    worker = PipelineWorker(
        pipeline, name=plan.call_id, enable_rtvi=False, observers=[observer],
        idle_timeout_secs=None,  # silence is the agent's silence_timeout_sec, handled by the session
        enable_turn_tracking=not LEAN,  # pipecat's turn-tracking observer: nothing in cb reads it
        params=PipelineParams(audio_in_sample_rate=SAMPLE_RATE, audio_out_sample_rate=SAMPLE_RATE,
                              enable_metrics=False, send_initial_empty_metrics=False))
    if LEAN:
        if not agent.pipeline.turn.smart_turn and gate is None:
            audio_stops_at(stt)
        InlineObservers.install(worker, [observer])
    preemptive = next((s for s in strategies.stop or [] if isinstance(s, PreemptiveStopStrategy)), None)
    return CallPipeline(worker, transport, observer, pair.user(), context, preemptive, duck,
                        {"stt": stt, "llm": llm, "tts": tts})
