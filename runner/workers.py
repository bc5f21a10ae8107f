"""`cb runner --workers N`: one supervisor process, N worker processes on one listening socket.

One process runs one event loop on one core; a runner with more cores runs several. The
supervisor binds the socket, makes what the workers would otherwise race to create (the audit
key, the local token, the state database's tables), then starts the workers: each is a whole
runner app (``create_app``) serving the inherited socket, and the kernel hands each new
connection to whichever worker accepts it first.

What workers share goes through the state database, exactly as between runners on one
PostgreSQL: applies (each worker follows the state, so an apply on one is live on all), call
records, pending calls (a voice webhook and its media stream may reach different workers: the
stream's worker claims the call there, ``cb.runner.calls.claims``), the webhook outbox (rows are
leased, so each is delivered once), and the heartbeats by which a worker's calls are ended as
failed when it dies. What one worker holds in memory (a running call's session, an outbound
call's dial) is reached through the others' private loopback ports (``cb.runner.routing``).
What must run once per host runs in worker 0 alone: ``--watch`` and the SIP
listener (``cb.runner.calls.transports``). Worker 0 starts first; the others join once they have
loaded their models (one at a time, each after the one before is warm), so no connection reaches
a worker still warming up.

A worker that exits unasked is started again at once (at most ``RESTARTS`` times a minute); the
calls it held are ended by the others as failed. The first SIGTERM or SIGINT goes to every
worker, which drain their calls as one runner does (cb.runner.calls.graceful); a second one stops
them at once.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import time
from dataclasses import replace
from typing import Any

log = logging.getLogger("cb.runner")

RESTARTS = 5  # a worker that dies more often than this a minute is left dead (and said so)
READY_TIMEOUT_S = 180.0  # a worker that is not serving by then is stopped


def listening_socket(host: str, port: int) -> socket.socket:
    """Bind ``host:port`` as uvicorn would; AddressInUse names the fix."""
    from .app import AddressInUse, _url_host

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        import errno

        if exc.errno == errno.EADDRINUSE:
            raise AddressInUse(f"{_url_host(host)}:{port} is already in use (another cb runner?): stop it, "
                               "or pass --port") from None
        raise AddressInUse(f"cannot listen on {_url_host(host)}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def prepare(settings: Any) -> None:
    """Create once, before any worker starts, what each worker would otherwise race to create."""
    from cb.contracts.voice_webhook_auth import local_token
    from cb.state import open_store
    from cb.state.auditkey import default_path, load_or_create

    key = load_or_create(settings.audit_key_file or default_path(settings.state_dir))
    local_token(settings.state_dir)
    store = open_store(settings.state_dir, settings.state_db, key)
    store.close()


def _wait_warm(app: Any) -> Any:
    async def wait() -> None:
        import asyncio

        service = getattr(app.state, "calls", None)
        while service is not None and not service.warm:
            await asyncio.sleep(0.05)
    return wait


def follow_supervisor(supervisor: int, grace_s: float = 60.0, every_s: float = 0.5) -> None:
    """Stop this worker when its supervisor is gone (SIGKILLed, or crashed): drain as on SIGTERM,
    then exit for good after ``grace_s``. Workers sit in their own process group, so nothing else
    would reach them, and an orphan would go on serving the socket with nobody to restart or stop it."""
    import threading

    def watch() -> None:
        while os.getppid() == supervisor:
            time.sleep(every_s)
        log.error("worker %d: the supervisor (pid %d) is gone: draining and stopping", os.getpid(), supervisor)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace_s)
        os._exit(1)

    threading.Thread(target=watch, name="cb-follow-supervisor", daemon=True).start()


def worker_main(settings: Any, sock: socket.socket, private: socket.socket, ready: Any, serving: Any) -> None:
    """One worker: the runner app on the inherited socket. Runs in a spawned process."""
    os.setpgid(0, 0)  # a terminal's Ctrl-C reaches the supervisor, which tells each worker once
    follow_supervisor(os.getppid())
    from . import routing
    from .app import configure_logging, create_app
    from .calls.graceful import DrainingServer, drain_calls
    from .limits import WS_MAX_BYTES

    import uvicorn

    from cb import colour

    configure_logging(settings.worker)
    routing.SERVING = serving
    app = create_app(settings)
    if settings.worker > 0:  # join only once warm: the kernel gives a connection to any worker serving
        app.state.cb.startup.append(_wait_warm(app))

    def on_ready() -> None:
        import asyncio

        log.info("worker %d (pid %d) serving", settings.worker, os.getpid())
        serving[settings.worker] = 1

        async def warm() -> None:  # the next worker starts once this one's models are loaded
            await _wait_warm(app)()
            ready.set()
        asyncio.get_running_loop().create_task(warm())

    config = uvicorn.Config(app, log_level="warning", access_log=False, ws_max_size=WS_MAX_BYTES,
                            loop=os.environ.get("CB_LOOP", "auto"), use_colors=None if colour.enabled() else False)
    DrainingServer(config, drain_calls(app), on_ready).run(sockets=[sock, private])


class Supervisor:
    def __init__(self, settings: Any, workers: int):
        self.settings, self.count = settings, workers
        self.ctx = multiprocessing.get_context("spawn")
        self.procs: dict[int, Any] = {}
        self.ready: dict[int, Any] = {}
        self.deaths: dict[int, list[float]] = {}
        self.stopping = 0  # signals received
        self.sock: socket.socket | None = None
        self.serving = self.ctx.RawArray("b", workers + 1)  # which serve, and all started (cb.runner.routing.SERVING)
        self.private: list[socket.socket] = []  # each worker's loopback port, for the others (cb.runner.routing)

    def start(self, index: int) -> None:
        ready = self.ctx.Event()
        proc = self.ctx.Process(target=worker_main, name=f"cb-worker-{index}",
                                args=(replace(self.settings, worker=index), self.sock, self.private[index], ready,
                                      self.serving))
        proc.start()
        self.procs[index], self.ready[index] = proc, ready

    def wait_ready(self, indexes: list[int]) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline and not self.stopping:
            if all(self.ready[i].is_set() for i in indexes):
                return True
            dead = [i for i in indexes if not self.procs[i].is_alive()]
            if dead:
                log.error("worker %d exited (code %s) before it served", dead[0], self.procs[dead[0]].exitcode)
                return False
            time.sleep(0.05)
        return False

    def on_signal(self, sig: int, frame: Any) -> None:
        self.stopping += 1
        log.info("signal %s: telling %d worker(s)%s", sig, len(self.procs),
                 " to drain their calls" if self.stopping == 1 else " to stop now")
        for proc in self.procs.values():
            if proc.is_alive() and proc.pid:
                try:
                    os.kill(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

    def watch(self) -> None:
        """Restart a worker that died unasked, until asked to stop; then wait for every worker."""
        while not self.stopping:
            for index, proc in list(self.procs.items()):
                if proc.is_alive() or self.stopping:
                    continue
                self.serving[index] = 0
                now = time.monotonic()
                recent = [t for t in self.deaths.get(index, []) if now - t < 60] + [now]
                self.deaths[index] = recent
                if len(recent) > RESTARTS:
                    log.error("worker %d died %d times in a minute (last exit code %s): not restarting it", index,
                              len(recent), proc.exitcode)
                    self.procs.pop(index)
                    continue
                log.error("worker %d (pid %s) died (exit code %s): restarting it; the calls it held are ended "
                          "as failed by the other workers", index, proc.pid, proc.exitcode)
                self.start(index)
            if not self.procs:
                log.error("no worker left: the runner stops")
                return
            time.sleep(0.2)
        for proc in self.procs.values():
            proc.join()

    def run(self) -> int:
        from .app import _url_host

        s = self.settings
        self.sock = listening_socket(s.host, s.port)
        self.private = [listening_socket("127.0.0.1", 0) for _ in range(self.count)]
        s = self.settings = replace(s, worker_ports=tuple(p.getsockname()[1] for p in self.private))
        prepare(s)
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGINT, self.on_signal)
        self.start(0)
        if not self.wait_ready([0]):
            self.on_signal(signal.SIGTERM, None)
            self.watch()
            return 1
        for index in range(1, self.count):
            self.start(index)
        if self.wait_ready(list(range(1, self.count))):
            self.serving[self.count] = 1  # /readyz: ready once every worker has loaded its models
            log.info("cb runner ready on %s (listening on %s:%d, %d workers, state %s)", s.public_base_url,
                     _url_host(s.host), s.port, self.count, s.state_dir)
        self.watch()
        failed = [p.exitcode for p in self.procs.values() if p.exitcode not in (0, -signal.SIGTERM)]
        return 1 if failed else 0


def serve_workers(settings: Any, workers: int) -> int:
    """Run ``workers`` worker processes on one socket until signalled; the exit code."""
    return Supervisor(settings, workers).run()
