"""The delivery loop: lease due rows, deliver them, record the outcome, repeat.

Runs inside the runner (``await Worker(state_dir).run(stop)``) or on its own:

    python -m cb.runner.webhooks.worker --state DIR

Several workers may share one database: leases keep them from delivering the same row at once.
A worker killed mid-delivery (even with SIGKILL) leaves its lease behind; a worker on the same
host sees the owner's process is gone and takes the row over at once, one elsewhere when the
lease ends.
Database calls run in a thread so a slow fsync never stalls the call path's event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import uuid
from pathlib import Path
from typing import Mapping

import httpx

from .delivery import deliver
from .outbox import Outbox, OutboxRow

log = logging.getLogger("cb.runner.webhooks")


class Worker:
    def __init__(self, state_dir: Path | str, *, timeout_sec: float = 10.0, lease_sec: float | None = None,
                 poll_sec: float = 0.5, concurrency: int = 4, base_delay: float = 5.0,
                 max_delay: float = 3600.0, env: Mapping[str, str] | None = None):
        self.outbox = Outbox.open(state_dir)
        self.timeout_sec = timeout_sec
        # A lease must outlive the request, or a slow but healthy delivery would be taken twice.
        self.lease_sec = lease_sec if lease_sec is not None else timeout_sec + 5.0
        if self.lease_sec <= timeout_sec:
            raise ValueError("lease_sec must be longer than timeout_sec")
        self.poll_sec = poll_sec
        self.concurrency = concurrency
        self.base_delay, self.max_delay = base_delay, max_delay
        self.env = os.environ if env is None else env
        self.owner = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()

    def notify(self) -> None:
        """Something was enqueued: look now instead of at the next poll."""
        self._wake.set()

    def reclaim_orphans(self) -> list[str]:
        """End the leases of workers on this host whose process is gone (killed, even by SIGKILL),
        so a restarted runner delivers at once instead of waiting for the lease to run out.
        A live or unknown owner keeps its lease: its delivery may still be in flight."""
        host = socket.gethostname()
        dead = []
        for row_id, owner in self.outbox.leases():
            parts = (owner or "").split("/")
            if len(parts) == 3 and parts[0] == host and parts[1].isdigit() and not _alive(int(parts[1])):
                dead.append(row_id)
        self.outbox.expire_leases(dead)
        return dead

    async def run_once(self, client: httpx.AsyncClient) -> int:
        orphans = await asyncio.to_thread(self.reclaim_orphans)
        if orphans:
            log.info("taking over %d delivery(ies) from a worker that died: %s", len(orphans), ", ".join(orphans))
        rows = await asyncio.to_thread(self.outbox.claim, self.owner, self.lease_sec, self.concurrency)
        await asyncio.gather(*(self._deliver(client, row) for row in rows))
        return len(rows)

    async def _deliver(self, client: httpx.AsyncClient, row: OutboxRow) -> None:
        attempt = await deliver(client, row, timeout_sec=self.timeout_sec, env=self.env)
        status = await asyncio.to_thread(
            self.outbox.record_attempt, row, http_status=attempt.http_status, error=attempt.error,
            duration_ms=attempt.duration_ms, ok=attempt.ok, owner=self.owner,
            base_delay=self.base_delay, max_delay=self.max_delay)
        record = {"delivery": row.id, "call_id": row.call_id, "event": row.event, "attempt": row.attempts,
                  "http_status": attempt.http_status, "error": attempt.error,
                  "latency_ms": attempt.duration_ms, "status": status}
        log.info("webhook delivery %s", json.dumps(record), extra={"cb": record})

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        async with httpx.AsyncClient() as client:
            while not stop.is_set():
                try:
                    busy = await self.run_once(client)
                except Exception:  # noqa: BLE001 - one bad round must not end deliveries
                    log.exception("webhook worker round failed; retrying")
                    busy = 0
                if busy:
                    continue
                self._wake.clear()
                waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
                await asyncio.wait(waiters, timeout=self.poll_sec, return_when=asyncio.FIRST_COMPLETED)
                for w in waiters:
                    w.cancel()

    def close(self) -> None:
        self.outbox.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cb.runner.webhooks.worker",
                                     description="Deliver the webhooks owed in <state>/state.db.")
    parser.add_argument("--state", required=True, type=Path, help="The runner's state directory.")
    parser.add_argument("--timeout", type=float, default=10.0, help="Seconds per delivery attempt.")
    parser.add_argument("--lease", type=float, default=None, help="Seconds a delivery is leased (> timeout).")
    parser.add_argument("--poll", type=float, default=0.5, help="Seconds between looks at the outbox.")
    parser.add_argument("--base-delay", type=float, default=5.0, help="First retry delay in seconds.")
    parser.add_argument("--max-delay", type=float, default=3600.0, help="Longest retry delay in seconds.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    worker = Worker(args.state, timeout_sec=args.timeout, lease_sec=args.lease, poll_sec=args.poll,
                    base_delay=args.base_delay, max_delay=args.max_delay)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await worker.run(stop)

    try:
        asyncio.run(serve())
    finally:
        worker.close()


if __name__ == "__main__":
    main()
