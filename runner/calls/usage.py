"""What one call used, measured from its frames, for its cost (``cb.pricing``).

- stt_audio_sec: caller audio the input transport received (a streaming STT is sent all of it)
- llm_tokens_in / llm_tokens_out: the LLM's own usage report when the service sends one; else
  estimated at four characters a token from the context each request carried and the text it
  streamed back (``llm_tokens_estimated`` says which)
- tts_characters: the text the TTS was given (the greeting, every sentence, interrupted or not:
  a TTS bills what it synthesises, not what was played)
- connected_sec is filled in after the call from its record.

A listener of the call's CallObserver (``hooks.CALL_OBSERVERS``): no pipecat observer of its own.
"""

from __future__ import annotations

import json
from typing import Any

from pipecat.frames.frames import InputAudioRawFrame, LLMContextFrame, LLMTextFrame, MetricsFrame, TTSTextFrame
from pipecat.metrics.metrics import LLMUsageMetricsData
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport

CHARS_PER_TOKEN = 4


class CallUsage:
    def __init__(self, plan: Any = None) -> None:
        self.stt_audio_sec = 0.0
        self.tts_characters = 0
        self._context_chars = 0
        self._reply_chars = 0
        self._reported_in = self._reported_out = 0
        self._seen: set[int] = set()

    async def on_push_frame(self, data: Any) -> None:
        frame, source = data.frame, getattr(data, "source", None)
        if isinstance(frame, InputAudioRawFrame):
            if isinstance(source, BaseInputTransport):
                self.stt_audio_sec += len(frame.audio) / (2 * frame.sample_rate * max(1, frame.num_channels or 1))
            return
        if not isinstance(frame, (LLMContextFrame, LLMTextFrame, TTSTextFrame, MetricsFrame)) or frame.id in self._seen:
            return
        if isinstance(frame, TTSTextFrame) and isinstance(source, BaseOutputTransport):
            return  # the TTS's own push counts; the transport's is the same text played
        self._seen.add(frame.id)
        if isinstance(frame, LLMContextFrame):
            ctx = frame.context
            messages = ctx.get_messages() if hasattr(ctx, "get_messages") else getattr(ctx, "messages", [])
            self._context_chars += len(json.dumps(messages, default=str))
            tools = getattr(ctx, "tools", None)
            if tools:
                self._context_chars += len(json.dumps(getattr(tools, "standard_tools", tools), default=str))
        elif isinstance(frame, LLMTextFrame):
            self._reply_chars += len(frame.text)
        elif isinstance(frame, TTSTextFrame):
            self.tts_characters += len(frame.text) + 1
        elif isinstance(frame, MetricsFrame):
            for item in frame.data:
                if isinstance(item, LLMUsageMetricsData):
                    self._reported_in += item.value.prompt_tokens
                    self._reported_out += item.value.completion_tokens

    def summary(self, connected_sec: float | None) -> dict[str, Any]:
        estimated = not (self._reported_in or self._reported_out)
        return {
            "connected_sec": round(float(connected_sec or 0), 1),
            "stt_audio_sec": round(self.stt_audio_sec, 1),
            "llm_tokens_in": -(-self._context_chars // CHARS_PER_TOKEN) if estimated else self._reported_in,
            "llm_tokens_out": -(-self._reply_chars // CHARS_PER_TOKEN) if estimated else self._reported_out,
            "llm_tokens_estimated": estimated,
            "tts_characters": self.tts_characters,
        }
