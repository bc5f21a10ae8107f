"""Stock pipecat 1.14, for comparison: the same call served the way pipecat's examples serve it.

A minimal FastAPI app under uvicorn: ``POST /twilio/voice`` answers TwiML ``<Connect><Stream>``,
and ``/ws`` runs one pipeline per call, as pipecat's Twilio example writes it:
``FastAPIWebsocketTransport`` + ``TwilioFrameSerializer``, ``SileroVADAnalyzer`` (one per call, in
the user aggregator), STT -> user aggregator -> LLM -> TTS -> transport -> assistant aggregator,
``PipelineWorker`` defaults (RTVI, turn tracking and the observer proxy on), a greeting on
connect. The providers are the benchmark's (b) stack, the same objects the runner builds: the
scripted STT (final 150 ms after the end of speech) and TTS (first audio 100 ms) from
cb.plugins.scripted, and pipecat's ``OpenAILLMService`` against the scripted LLM process.

Three departures from the example, each so that both servers do the same work and are measured
the same way: the VAD's silence ends the turn (the default smart-turn v3 costs ~25 ms an inference
and is wrong on synthetic speech; cb's default is the VAD too), the transport sends 20 ms media
messages (``audio_out_10ms_chunks=2``, as cb does; the caller's jitter figure is against 20 ms),
and ``/readyz`` reports event-loop lag from a 100 ms timer, as cb's does.
No signature check: the example has none.

``StockStack`` starts it beside the scripted LLM with ``bench.stack.Stack``'s interface (``url``,
``token``, ``runner_pid``), so bench/concurrency.py drives it with the same caller at the same N.

    python -m bench.stock_pipecat --port 8765 --llm-url http://127.0.0.1:PORT/v1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, Response

from .stack import free_port

GREETING = "Hello, thanks for calling."
RATE = 8000


def services(llm_url: str, stt_ms: int, llm_ms: int, tts_ms: int) -> tuple[Any, Any, Any]:
    from pipecat.services.openai.llm import OpenAILLMService

    from cb.plugins.scripted.stt import provider as stt_provider
    from cb.plugins.scripted.tts import provider as tts_provider
    from cb.providers import CallAudio, PartSpec

    audio = CallAudio(RATE)
    stt = stt_provider.create(PartSpec("scripted", options={"delay_ms": stt_ms}), audio)
    tts = tts_provider.create(PartSpec("scripted", options={"first_audio_ms": tts_ms}), audio)
    llm = OpenAILLMService(api_key="scripted", base_url=llm_url, model="scripted")
    return stt, llm, tts


def make_app(llm_url: str, stt_ms: int = 150, llm_ms: int = 150, tts_ms: int = 100) -> Any:
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.audio.vad.vad_analyzer import VADParams
    from pipecat.frames.frames import TTSSpeakFrame
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.aggregators.llm_response_universal import (
        LLMContextAggregatorPair,
        LLMUserAggregatorParams,
    )
    from pipecat.runner.utils import parse_telephony_websocket
    from pipecat.serializers.twilio import TwilioFrameSerializer
    from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
    from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy
    from pipecat.turns.user_turn_strategies import UserTurnStrategies
    from pipecat.workers.runner import WorkerRunner

    lag = {"ms": 0.0}

    async def watch() -> None:
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.1)
            lag["ms"] = max(0.0, (time.monotonic() - t - 0.1) * 1000)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any):
        task = asyncio.create_task(watch())
        yield
        task.cancel()

    app = FastAPI(lifespan=lifespan)

    @app.get("/readyz")
    async def readyz() -> Any:
        return JSONResponse({"ok": True, "loop_lag_ms": round(lag["ms"], 1)})

    @app.post("/twilio/voice")
    async def voice(request: Request) -> Any:
        ws_url = str(request.url_for("stream")).replace("http", "ws", 1)
        return Response(f'<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="{ws_url}">'
                        '</Stream></Connect><Pause length="40"/></Response>', media_type="application/xml")

    @app.websocket("/ws")
    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        _, call_data = await parse_telephony_websocket(websocket)
        serializer = TwilioFrameSerializer(stream_sid=call_data["stream_id"], call_sid=call_data["call_id"],
                                           params=TwilioFrameSerializer.InputParams(auto_hang_up=False))
        transport = FastAPIWebsocketTransport(websocket, FastAPIWebsocketParams(
            audio_in_enabled=True, audio_out_enabled=True, add_wav_header=False, serializer=serializer,
            audio_out_10ms_chunks=2))
        stt, llm, tts = services(llm_url, stt_ms, llm_ms, tts_ms)
        context = LLMContext([{"role": "system", "content": "You are a benchmark agent."}])
        pair = LLMContextAggregatorPair(context, user_params=LLMUserAggregatorParams(
            vad_analyzer=SileroVADAnalyzer(params=VADParams(start_secs=0.2, stop_secs=0.2)),
            user_turn_strategies=UserTurnStrategies(stop=[SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=0.0)])))
        pipeline = Pipeline([transport.input(), stt, pair.user(), llm, tts, transport.output(), pair.assistant()])
        worker = PipelineWorker(pipeline, params=PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE))

        @transport.event_handler("on_client_connected")
        async def connected(_transport: Any, _client: Any) -> None:
            await worker.queue_frames([TTSSpeakFrame(GREETING)])

        @transport.event_handler("on_client_disconnected")
        async def disconnected(_transport: Any, _client: Any) -> None:
            await worker.cancel()

        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        await runner.run()

    return app


@dataclass
class StockStack:
    """The stock app and the scripted LLM, on free loopback ports; ``close`` stops both."""

    first_token_ms: int = 150
    stt_ms: int = 150
    tts_ms: int = 100
    reply: str = "Sure, I can help with that."
    url: str = ""
    token: str = "stock"  # the caller signs with it; the example checks no signature
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def runner_pid(self) -> int:
        return self.procs[-1].pid

    def __enter__(self) -> "StockStack":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def start(self) -> None:
        self._tmpdir = tempfile.TemporaryDirectory(prefix="cb-stock-")
        tmp = Path(self._tmpdir.name)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        script = tmp / "llm.json"
        script.write_text(json.dumps({"turns": [], "default": self.reply, "first_token_ms": self.first_token_ms}))
        llm = subprocess.Popen([sys.executable, "-m", "cb.plugins.scripted.server", "--script", str(script)],
                               stdout=subprocess.PIPE, stderr=open(tmp / "llm.log", "w"), text=True, env=env)
        self.procs.append(llm)
        base_url = llm.stdout.readline().strip()
        if not base_url.startswith("http://127.0.0.1"):
            raise RuntimeError(f"scripted LLM did not start: {(tmp / 'llm.log').read_text()}")
        port = free_port()
        self.log = tmp / "stock.log"
        root = Path(__file__).resolve().parents[1]
        app = subprocess.Popen([sys.executable, "-m", "bench.stock_pipecat", "--port", str(port), "--llm-url", base_url,
                                "--stt-ms", str(self.stt_ms), "--tts-ms", str(self.tts_ms)],
                               stdout=open(self.log, "w"), stderr=subprocess.STDOUT, cwd=root, env=env)
        self.procs.append(app)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if app.poll() is not None:
                raise RuntimeError(f"stock pipecat app exited {app.returncode}: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"stock pipecat app not ready in 60 s: {self.log.read_text()[-3000:]}")

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.procs.clear()
        if getattr(self, "_tmpdir", None) is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--llm-url", required=True, help="the scripted LLM's OpenAI-compatible base URL")
    parser.add_argument("--stt-ms", type=int, default=150)
    parser.add_argument("--tts-ms", type=int, default=100)
    args = parser.parse_args(argv)
    import uvicorn

    # loguru as the examples (and cb's runner) leave it: pipecat's DEBUG lines to stderr
    uvicorn.run(make_app(args.llm_url, args.stt_ms, tts_ms=args.tts_ms), host="127.0.0.1", port=args.port,
                log_level="warning")


if __name__ == "__main__":
    main()
