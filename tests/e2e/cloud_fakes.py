"""Deepgram's live STT and Cartesia's TTS WebSocket APIs, spoken by small fakes on 127.0.0.1.

They do the real work with the local models (Whisper hears, Piper speaks) so a call through them
is a real conversation, and they record what the client sent (auth headers, query, messages) so a
test can check the cloud plugins speak each provider's protocol.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import uuid
from typing import Any
from urllib.parse import parse_qs, urlparse

import websockets
from websockets.asyncio.server import ServerConnection, serve

from cb.plugins.local import speech


class FakeServer:
    """A websockets server on its own loop in a thread; ``url`` once started."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []  # one per connection: path, query, headers
        self.messages: list[Any] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._server = await serve(self._handle, "127.0.0.1", 0, max_size=None)
            self.port = self._server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._server.serve_forever()

        try:
            self._loop.run_until_complete(main())
        except asyncio.CancelledError:
            pass

    async def _handle(self, ws: ServerConnection) -> None:
        url = urlparse(ws.request.path)
        self.requests.append({"path": url.path, "query": {k: v[0] for k, v in parse_qs(url.query).items()},
                              "headers": dict(ws.request.headers)})
        try:
            await self.handle(ws)
        except websockets.ConnectionClosed:
            pass

    async def handle(self, ws: ServerConnection) -> None:
        raise NotImplementedError

    def __enter__(self) -> "FakeServer":
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._loop.call_soon_threadsafe(self._server.close)
        self._thread.join(5)


class FakeDeepgram(FakeServer):
    """/v1/listen: linear16 audio in; on Finalize, a final Results message with Whisper's text."""

    @property
    def base_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def handle(self, ws: ServerConnection) -> None:
        query = self.requests[-1]["query"]
        rate = int(query.get("sample_rate", 16000))
        audio, start = bytearray(), 0.0
        async for message in ws:
            if isinstance(message, bytes):
                audio += message
                continue
            control = json.loads(message)
            self.messages.append(control)
            if control.get("type") == "Finalize":
                pcm = bytes(audio)
                audio.clear()
                text = await asyncio.to_thread(speech.transcribe, speech.resample(pcm, rate, speech.TELEPHONE_RATE))
                duration = len(pcm) / 2 / rate
                await ws.send(json.dumps({
                    "type": "Results", "channel_index": [0, 1], "duration": duration, "start": start,
                    "is_final": True, "speech_final": True, "from_finalize": True,
                    "channel": {"alternatives": [{"transcript": text, "confidence": 0.99, "words": []}]},
                    "metadata": {"request_id": str(uuid.uuid4()), "model_uuid": str(uuid.uuid4()),
                                 "model_info": {"name": query.get("model", "nova-3"), "version": "fake", "arch": "fake"}}}))
                start += duration
            elif control.get("type") == "CloseStream":
                await ws.close()
                return


class FakeCartesia(FakeServer):
    """/tts/websocket: transcript in, pcm_s16le chunks out (Piper), ``done`` when a context ends."""

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/tts/websocket"

    async def handle(self, ws: ServerConnection) -> None:
        cancelled: set[str] = set()
        async for message in ws:
            msg = json.loads(message)
            self.messages.append(msg)
            ctx = msg.get("context_id", "")
            if msg.get("cancel"):
                cancelled.add(ctx)
                continue
            if msg.get("transcript", "").strip() and ctx not in cancelled:
                rate = int(msg["output_format"]["sample_rate"])
                pcm = await asyncio.to_thread(speech.synthesize, msg["transcript"])
                pcm = speech.resample(pcm, speech.TELEPHONE_RATE, rate)
                for i in range(0, len(pcm), 3200):
                    await ws.send(json.dumps({"type": "chunk", "context_id": ctx, "done": False, "status_code": 206,
                                              "data": base64.b64encode(pcm[i:i + 3200]).decode()}))
            if not msg.get("continue", True) and ctx not in cancelled:
                await ws.send(json.dumps({"type": "done", "context_id": ctx, "done": True, "status_code": 206}))
