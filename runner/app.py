"""The runner process: one FastAPI app holding the admin API, health, and the call path.

``create_app(settings)`` opens the state store, mounts the admin API (``/v1``) and ``/healthz``,
then calls each installer in ``EXTENSIONS`` as ``install(app, ctx)``. Installers are imported
lazily so the control plane runs without the call path's heavy dependencies (pipecat); a module
that is not there is skipped with one log line, anything else that fails is a real error.
"""

from __future__ import annotations

import contextlib
import importlib
import ipaddress
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

from fastapi import Depends, FastAPI

from cb import colour
from cb.state import StateStore, open_store

from .auth import require_token
from .limits import WS_MAX_BYTES, BodyLimit

log = logging.getLogger("cb.runner")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765

#: "module:function" installers, each called as install(app, ctx) in this order.
EXTENSIONS = [
    "cb.runner.calls.routes:install",
    "cb.runner.calls.outbound_routes:install",
    "cb.runner.calls.transports:install",
    "cb.runner.postcall.routes:install",
    "cb.runner.ui.routes:install",
]


@dataclass(frozen=True)
class Settings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    state_dir: Path = Path(".cb")
    token: str | None = None
    public_url: str | None = None  # what telephony providers call back; default http://host:port
    project_dir: Path | None = None  # the project the runner belongs to
    watch_dir: Path | None = None  # `--watch DIR`: apply every valid edit under DIR (source watch)
    state_db: str | None = None  # postgresql://... to share the fleet's state between runners
    metrics_public: bool = False  # `--metrics-public`: /metrics without the token
    audit_key_file: Path | None = None  # keys the history's chain (cb.state.auditkey); default beside the state
    workers: int = 1  # `--workers N`: worker processes on one socket (cb.runner.workers)
    worker: int = 0  # which worker this process is; worker 0 alone watches and runs the SIP listener
    worker_ports: tuple[int, ...] = ()  # each worker's loopback port (cb.runner.routing)

    @property
    def public_base_url(self) -> str:
        return (self.public_url or f"http://{_url_host(self.host)}:{self.port}").rstrip("/")

    @property
    def voice_url(self) -> str:
        return self.public_base_url + "/twilio/voice"

    @property
    def status_callback_url(self) -> str:
        return self.public_base_url + "/twilio/status"


@dataclass
class RunnerContext:
    """What every installer gets: the store, the engine (apply in-process), settings and a logger."""

    store: StateStore
    settings: Settings
    log: logging.Logger
    engine: Any = None  # cb.apply.engine.Engine
    startup: list[Callable[[], Awaitable[None] | None]] = field(default_factory=list)
    shutdown: list[Callable[[], Awaitable[None] | None]] = field(default_factory=list)
    ready: bool = False
    watcher: Any = None  # cb.apply.watch.Watcher when --watch is on


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


MIN_TOKEN_CHARS = 32
GENERATE_TOKEN = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


def check_exposure(settings: Settings) -> None:
    """Refuse to serve the admin API beyond loopback without a strong token."""
    if is_loopback(settings.host):
        return
    if not settings.token:
        raise ValueError(
            f"refusing to listen on {settings.host} without a token: anyone who can reach it could change "
            "your agents. Set CB_TOKEN or pass --token-file, or listen on 127.0.0.1")
    if not strong(settings.token):
        raise ValueError(
            f"refusing to listen on {settings.host} with a weak token ({len(settings.token)} characters): "
            f"beyond loopback the token needs at least {MIN_TOKEN_CHARS} random characters. "
            f"Generate one with: {GENERATE_TOKEN}")


def strong(token: str) -> bool:
    """At least MIN_TOKEN_CHARS characters, not a repeated pattern (what token_urlsafe/hex give)."""
    return len(token) >= MIN_TOKEN_CHARS and len(set(token)) >= 12


def _load_installer(target: str) -> Callable[[FastAPI, RunnerContext], None] | None:
    module, attr = target.split(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            log.info("extension %s is not installed; skipping it", module)
            return None
        raise
    return getattr(mod, attr)


class _Follower:
    """Polls the state for commits made by another process (several runners on one PostgreSQL
    state, or a second process on the SQLite file) and swaps them in like a local apply."""

    INTERVAL_S = 0.1

    def __init__(self, store: StateStore):
        self.store = store
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        while not self._stop.wait(self.INTERVAL_S):
            try:
                self.store.refresh()
            except Exception:  # noqa: BLE001 - a blip in the database must not stop following
                log.exception("could not refresh the state")

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="cb-state-follower", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


async def _run_hooks(hooks: list) -> None:
    for hook in hooks:
        result = hook()
        if result is not None and hasattr(result, "__await__"):
            await result


def create_app(settings: Settings, extensions: list[str] | None = None) -> FastAPI:
    check_exposure(settings)
    from cb.apply.engine import Engine
    from cb.providers.registry import ProviderRegistry

    from .admin import routes as admin

    from cb.state.auditkey import default_path, load_or_create

    key = load_or_create(settings.audit_key_file or default_path(settings.state_dir))
    store = open_store(settings.state_dir, settings.state_db, key)
    ctx = RunnerContext(store=store, settings=settings, log=log)
    ctx.engine = Engine(store, ProviderRegistry(settings, store))
    follower = _Follower(store)  # commits by other runners sharing the state reach this one's calls
    ctx.startup.append(follower.start)
    ctx.shutdown.append(follower.stop)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        await _run_hooks(ctx.startup)
        ctx.ready = True  # "ready on ..." is logged by serve() once the socket is bound
        try:
            yield
        finally:
            ctx.ready = False
            await _run_hooks(list(reversed(ctx.shutdown)))
            store.close()

    app = FastAPI(title="cb runner", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None, exception_handlers=admin.ERROR_HANDLERS)
    app.state.cb = ctx
    app.add_middleware(BodyLimit)  # every route: a body past its limit is a 413 before any work
    if settings.worker != 0 and settings.worker_ports:  # one engine commits for all workers (cb.runner.routing)
        from .routing import ToWorkerZero

        app.add_middleware(ToWorkerZero, port=settings.worker_ports[0])

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require_token)])
    def openapi() -> dict[str, Any]:
        return app.openapi()

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        from fastapi.responses import JSONResponse

        snap = store.snapshot()
        body = {"status": "ok" if ctx.ready else "starting", "lineage": snap.lineage, "serial": snap.serial}
        return JSONResponse(body, status_code=200 if ctx.ready else 503)

    app.include_router(admin.router)
    if settings.watch_dir is not None and settings.worker == 0:  # one watcher per runner, not per worker
        from cb.apply.watch import Watcher

        watcher = Watcher(ctx.engine, settings.watch_dir, settings.state_dir)
        ctx.watcher = watcher
        ctx.startup.append(watcher.start)
        ctx.shutdown.append(watcher.stop)
    for target in EXTENSIONS if extensions is None else extensions:
        installer = _load_installer(target)
        if installer is not None:
            installer(app, ctx)
    return app


def settings_from_env(host: str, port: int, state_dir: str | os.PathLike, token_file: str | None = None,
                      public_url: str | None = None, project_dir: str | None = None,
                      watch_dir: str | None = None, state_db: str | None = None,
                      audit_key_file: str | None = None) -> Settings:
    from cb.state.auditkey import default_path

    token = os.environ.get("CB_TOKEN") or None
    if token_file:
        token = Path(token_file).read_text().strip() or None
    audit_key_file = audit_key_file or os.environ.get("CB_AUDIT_KEY_FILE") or default_path(state_dir, token_file)
    return Settings(host=host, port=port, state_dir=Path(state_dir), token=token,
                    public_url=public_url or os.environ.get("CB_PUBLIC_URL") or None,
                    project_dir=Path(project_dir) if project_dir else None,
                    watch_dir=Path(watch_dir) if watch_dir else None,
                    state_db=state_db or os.environ.get("CB_STATE_DB") or None,
                    audit_key_file=Path(audit_key_file))


class AddressInUse(RuntimeError):
    """The runner's host:port is taken (another runner?); the message says what to do."""


def check_address(host: str, port: int) -> None:
    """Fail before anything starts when ``host:port`` cannot be bound, rather than log "ready" and
    then die with Errno 98."""
    import errno
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise AddressInUse(f"{_url_host(host)}:{port} is already in use (another cb runner?): stop it, "
                                   "or pass --port") from None
            raise AddressInUse(f"cannot listen on {_url_host(host)}:{port}: {exc.strerror}") from None


def hold_state_folder(state_dir: Path) -> Any:
    """Mark ``state_dir`` as this runner's (runner.pid, locked while it runs); warn naming the pid
    when another runner holds it. Returns the open lock file (keep it open)."""
    import fcntl

    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "runner.pid"
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        log.warning("another cb runner (pid %s) is already using the state folder %s: both will serve the same "
                    "fleet and write the same call records and outbox; give each runner its own --state "
                    "(share a fleet with --state-db postgresql://... instead)", holder, state_dir)
        return handle
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def configure_logging(worker: int | None = None) -> None:
    prefix = f"[worker {worker}] " if worker is not None else ""
    logging.basicConfig(level=logging.DEBUG if os.environ.get("CB_DEBUG") else logging.INFO,
                        format=f"%(asctime)s %(levelname)s %(name)s: {prefix}%(message)s")
    if not os.environ.get("CB_DEBUG"):  # the twilio SDK logs every request's headers at INFO
        logging.getLogger("twilio.http_client").setLevel(logging.WARNING)


def serve(settings: Settings) -> int:
    """Run the runner in the foreground until interrupted; with ``settings.workers`` > 1 as a
    supervisor of that many worker processes (cb.runner.workers). Returns the exit code."""
    configure_logging()
    if settings.workers > 1:
        from .workers import serve_workers

        holder = hold_state_folder(Path(settings.state_dir))  # noqa: F841 - held until the process exits
        return serve_workers(settings, settings.workers)
    check_address(settings.host, settings.port)
    holder = hold_state_folder(Path(settings.state_dir))  # noqa: F841 - held until the process exits
    app = create_app(settings)
    store = app.state.cb.store

    def ready() -> None:
        log.info("cb runner ready on %s (listening on %s:%d, state %s, lineage %s, serial %d)",
                 settings.public_base_url, _url_host(settings.host), settings.port, settings.state_dir,
                 store.lineage, store.snapshot().serial)
    # The first SIGTERM drains calls (new ones refused, calls in progress finish) before uvicorn
    # closes their WebSockets; see cb.runner.calls.graceful.
    from .calls.graceful import run

    # CB_LOOP=asyncio|uvloop (default: uvloop when installed) lets a benchmark compare the two.
    run(app, on_ready=ready, host=settings.host, port=settings.port, log_level="warning", access_log=False, ws_max_size=WS_MAX_BYTES,
        loop=os.environ.get("CB_LOOP", "auto"), use_colors=None if colour.enabled() else False)
    return 0
