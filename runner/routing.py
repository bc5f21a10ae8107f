"""Between the workers of one runner (cb.runner.workers): reach the worker that holds a call.

Most of a call goes through the state database, so any worker can serve it. Two things live in
one worker's memory: a call's running session (its pipeline) and an outbound call's dial (its
dialer, its screening), kept by the worker that placed it. The requests that act on them may
reach any worker, since the kernel hands each connection to whichever accepts it:

- the voice webhook of an outbound call (``?call=ID``), its status and AMD callbacks, and
  ``DELETE /v1/calls/ID``: a worker that does not hold the call forwards the request, unchanged
  (the ``Host`` too, so the signature still matches), to the other workers' private loopback
  ports in turn; one that does not hold it either answers ``404`` marked ``NOT_MINE``, and the
  first that does answers for all;
- the media stream of an outbound call: its TwiML names the worker holding the call
  (``worker`` parameter), and a stream that reaches another worker is relayed to it.

Each worker listens on its own loopback port besides the shared one (the supervisor binds them,
``Settings.worker_ports``). With one worker nothing here is used.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

log = logging.getLogger("cb.runner")

#: Which workers serve now (shared memory from the supervisor, one flag each, then one set once
#: every worker has started): a worker starting again holds no call, and one not serving yet would
#: keep a forwarded request waiting.
SERVING: Any = None


def starting() -> str | None:
    """Why the runner is not ready yet while its first workers are still loading, else None."""
    if SERVING is None or SERVING[len(SERVING) - 1]:
        return None
    count = len(SERVING) - 1
    return f"starting: {sum(SERVING[i] for i in range(count))} of {count} workers serving"
FORWARDED = "x-cb-worker-forwarded"  # a request another worker forwarded: answer it, never forward again
NOT_MINE = "x-cb-not-mine"


def others(settings: Any) -> list[int]:
    """The private ports of the other workers (none with one worker)."""
    ports = tuple(getattr(settings, "worker_ports", ()) or ())
    me = getattr(settings, "worker", 0)
    return [port for index, port in enumerate(ports) if index != me and (SERVING is None or SERVING[index])]


def forwarded(request: Any) -> bool:
    """A request another worker carried here: marked, and on this worker's private port (a client
    of the public port cannot pass for a worker)."""
    scope = request if isinstance(request, dict) else request.scope
    settings = getattr(scope["app"].state, "cb", None) if "app" in scope else None
    ports = tuple(getattr(getattr(settings, "settings", None), "worker_ports", ()) or ())
    me = getattr(getattr(settings, "settings", None), "worker", 0)
    on_private = bool(ports) and me < len(ports) and (scope.get("server") or (None, None))[1] == ports[me]
    return on_private and dict(scope.get("headers") or []).get(FORWARDED.encode()) == b"1"


def not_mine() -> Response:
    return Response("not held by this worker", status_code=404, headers={NOT_MINE: "1"})


async def forward(request: Request) -> Response | None:
    """Ask the other workers in turn; the answer of the first that holds the call, or None when
    none does (or this request was forwarded already: never twice)."""
    import httpx

    ports = others(request.app.state.cb.settings)
    if not ports or forwarded(request):
        return None
    body = await request.body()
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in ("content-length", "connection")]
    headers.append((FORWARDED, "1"))
    query = f"?{request.url.query}" if request.url.query else ""
    async with httpx.AsyncClient(timeout=30) as client:
        for port in ports:
            try:
                resp = await client.request(request.method, f"http://127.0.0.1:{port}{request.url.path}{query}",
                                            headers=headers, content=body)
            except httpx.HTTPError as exc:  # a worker restarting: the call it held is gone with it
                log.warning("worker on port %d did not answer a forwarded %s: %s", port, request.url.path, exc)
                continue
            if resp.headers.get(NOT_MINE):
                continue
            keep = {k: v for k, v in resp.headers.items() if k.lower() in ("content-type",)}
            return Response(resp.content, status_code=resp.status_code, headers=keep)
    return None


def port_of(settings: Any, worker: str | None) -> int | None:
    """The private port of the worker a stream names, when it is another worker."""
    ports = tuple(getattr(settings, "worker_ports", ()) or ())
    try:
        index = int(worker or "")
    except ValueError:
        return None
    if index == getattr(settings, "worker", 0) or not 0 <= index < len(ports):
        return None
    return ports[index]


async def relay(websocket: Any, start: dict[str, Any], port: int) -> None:
    """Carry a media stream to the worker on ``port``, both ways, until either side closes."""
    import websockets

    from .limits import WS_MAX_BYTES

    url = f"ws://127.0.0.1:{port}/twilio/stream"
    async with websockets.connect(url, max_size=WS_MAX_BYTES, compression=None,
                                  additional_headers={FORWARDED: "1"}) as peer:
        await peer.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await peer.send(json.dumps({"event": "start", "streamSid": start.get("streamSid"), "start": start}))

        async def up() -> None:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                await peer.send(message["text"] if message.get("text") is not None else message.get("bytes"))

        async def down() -> None:
            async for message in peer:
                if isinstance(message, str):
                    await websocket.send_text(message)
                else:
                    await websocket.send_bytes(message)

        tasks = [asyncio.ensure_future(up()), asyncio.ensure_future(down())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
    try:
        await websocket.close()
    except Exception:  # noqa: BLE001 - the caller went first
        pass


class ToWorkerZero:
    """ASGI middleware on workers other than 0: an apply or import is carried to worker 0, which
    runs the checks only it can make (the SIP listener's addresses) and the ``--watch`` engine, so
    every commit of this runner goes through one engine, as with one process; so is a request to
    place outbound calls, which worker 0's dialer places (a SIP call leaves from its listener).
    The answer (an NDJSON stream for an apply) is passed back as it comes."""

    PATHS = ("/v1/apply", "/v1/import", "/v1/calls", "/v1/calls/batch")

    def __init__(self, app: Any, port: int):
        self.app, self.port = app, port

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") not in self.PATHS
                or forwarded(scope)):
            await self.app(scope, receive, send)
            return
        import httpx

        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = scope.get("query_string", b"").decode()
        out = [(k.decode(), v.decode()) for k, v in scope["headers"] if k.lower() not in (b"content-length", b"connection")]
        async with httpx.AsyncClient(timeout=None) as client:
            async with client.stream("POST", f"http://127.0.0.1:{self.port}{scope['path']}" + (f"?{query}" if query else ""),
                                     headers=out + [(FORWARDED, "1")], content=body) as resp:
                await send({"type": "http.response.start", "status": resp.status_code,
                            "headers": [(k.encode(), v.encode()) for k, v in resp.headers.items()
                                        if k.lower() not in ("content-length", "transfer-encoding", "connection")]})
                async for chunk in resp.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


#: Gauges where the runner's value is the worst worker's, not the sum (a lag does not add up).
WORST_OF = ("cb_event_loop_lag_seconds", "cb_pacing_miss_ratio", "cb_input_backlog_seconds")


async def runner_metrics(request: Any, own: bytes) -> bytes:
    """``/metrics`` for the whole runner: this worker's, merged with every other worker's (a
    scrape reaches one worker). A request forwarded by a worker gets that worker's own."""
    import httpx

    ports = others(request.app.state.cb.settings)
    if not ports or forwarded(request):
        return own
    texts = [own.decode()]
    headers = {FORWARDED: "1", **({"authorization": request.headers["authorization"]}
                                  if "authorization" in request.headers else {})}
    async with httpx.AsyncClient(timeout=5) as client:
        for port in ports:
            try:
                resp = await client.get(f"http://127.0.0.1:{port}/metrics", headers=headers)
            except httpx.HTTPError:
                continue  # a worker starting again: its counts start again with it
            if resp.status_code == 200:
                texts.append(resp.text)
    return merge(texts).encode()


def merge(texts: list[str]) -> str:
    """Prometheus text of several workers as one: counters, histograms and call gauges summed,
    ``WORST_OF`` gauges the largest, ``_created`` the earliest."""
    from prometheus_client.parser import text_string_to_metric_families
    from prometheus_client.utils import floatToGoString

    families: dict[str, tuple[str, str, dict[tuple[str, tuple], float]]] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            kind, doc, samples = families.setdefault(family.name, (family.type, family.documentation, {}))
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                if key not in samples:
                    samples[key] = sample.value
                elif sample.name.endswith("_created"):
                    samples[key] = min(samples[key], sample.value)
                elif family.name in WORST_OF:
                    samples[key] = max(samples[key], sample.value)
                else:
                    samples[key] = samples[key] + sample.value
    out = []
    for name, (kind, doc, samples) in families.items():
        out.append(f"# HELP {name} {doc}")
        out.append(f"# TYPE {name} {kind}")
        for (sample, labels), value in samples.items():
            text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
            out.append(f"{sample}{{{text}}} {floatToGoString(value)}" if text else f"{sample} {floatToGoString(value)}")
    return "\n".join(out) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
