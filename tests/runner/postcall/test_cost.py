"""Issue 19.3: a call's usage, measured from real pipecat frames, priced per provider and model."""

from __future__ import annotations

import asyncio

from pipecat.frames.frames import InputAudioRawFrame, LLMTextFrame, TTSTextFrame
from pipecat.observers.base_observer import FramePushed
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import TransportParams

from cb.pricing import call_cost, price_table
from cb.runner.calls.usage import CallUsage

RATE = 8000
CLOUD = {"telephony": ("twilio", "inbound"), "stt": ("deepgram", "nova-3"),
         "llm": ("groq", "llama-3.3-70b-versatile"), "tts": ("cartesia", "sonic-2")}


def test_usage_is_measured_from_the_frames_and_priced_per_provider():
    async def go():
        usage = CallUsage()
        inp, out, svc = BaseInputTransport(TransportParams()), BaseOutputTransport(TransportParams()), FrameProcessor()

        async def push(frame, source):
            await usage.on_push_frame(FramePushed(source=source, destination=svc, frame=frame,
                                                  direction=FrameDirection.DOWNSTREAM, timestamp=0))

        for _ in range(50 * 30):  # 30 s of caller audio in 20 ms frames
            await push(InputAudioRawFrame(b"\0\0" * (RATE // 50), RATE, 1), inp)
        text = TTSTextFrame("Thanks for calling.", text_type="sentence")
        await push(text, svc)
        await push(text, out)  # played: the same characters, counted once
        await push(LLMTextFrame("x" * 400), svc)
        return usage.summary(connected_sec=61)

    usage = asyncio.run(go())
    assert usage["stt_audio_sec"] == 30.0 and usage["tts_characters"] == len("Thanks for calling.") + 1
    assert usage["llm_tokens_out"] == 100 and usage["llm_tokens_estimated"] is True
    cost = call_cost(usage, CLOUD)
    by_kind = {line["kind"]: line for line in cost["lines"]}
    assert by_kind["telephony"]["quantity"] == 2, "Twilio bills per started minute"
    assert abs(by_kind["telephony"]["usd"] - 2 * 0.0085) < 1e-9
    assert abs(by_kind["stt"]["usd"] - 30 * 0.0048 / 60) < 1e-9  # Deepgram Nova-3 streaming, cb/pricing.py
    assert cost["total_usd"] == round(sum(line["usd"] for line in cost["lines"]), 6)
    assert cost["per_connected_minute_usd"] == round(cost["total_usd"] / (61 / 60), 6)
    assert all(line["as_of"] and line["source"] for line in cost["lines"])


def test_a_local_call_costs_nothing_and_an_unknown_price_is_named_not_guessed():
    usage = {"connected_sec": 30, "stt_audio_sec": 30, "llm_tokens_in": 900, "llm_tokens_out": 80, "tts_characters": 200}
    local = {"telephony": ("local", "inbound"), "stt": ("whisper", None), "llm": ("scripted", None), "tts": ("piper", None)}
    assert call_cost(usage, local)["total_usd"] == 0 and call_cost(usage, local)["unpriced"] == []
    odd = call_cost(usage, {**local, "llm": ("openai", "gpt-x")})
    assert odd["unpriced"] == ["llm_in: openai/gpt-x", "llm_out: openai/gpt-x"]
    over = call_cost(usage, {**local, "llm": ("openai", "gpt-x")}, price_table(
        [{"kind": "llm_in", "provider": "openai", "model": "gpt-x", "usd_per_unit": 0.001}]))
    assert over["total_usd"] == 0.9 and over["unpriced"] == ["llm_out: openai/gpt-x"]
