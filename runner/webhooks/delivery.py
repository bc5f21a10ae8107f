"""One HTTP delivery attempt of one outbox row: sign, POST, classify the answer.

Any 2xx is delivered; everything else (other statuses, timeouts, refused connections, a secret
the worker cannot resolve) is a failed attempt that the outbox reschedules. Receivers identify a
delivery by ``CB-Idempotency-Key`` (stable across retries and replays) and authenticate it with
``CB-Signature`` (see docs/webhooks.md).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Mapping

import httpx

from cb import __version__
from cb import secrets
from cb.contracts.webhook_signature import HEADER, sign

from .outbox import OutboxRow

IDEMPOTENCY_HEADER = "CB-Idempotency-Key"


@dataclass(frozen=True)
class Attempt:
    ok: bool
    http_status: int | None
    error: str | None
    duration_ms: float


class SecretUnavailable(Exception):
    pass


def resolve_secret(ref: str | None, env: Mapping[str, str]) -> str | None:
    if ref is None:
        return None
    try:
        return secrets.resolve(ref, env)
    except secrets.NotAReference:
        raise SecretUnavailable(f"webhook secret {ref!r} is not a ${{env:NAME}} reference") from None
    except secrets.UnsetVariable as exc:
        raise SecretUnavailable(f"environment variable {exc.name} (the webhook secret) is not set "
                                "in the runner's environment; set it and run `cb webhooks replay`") from None


def headers_for(row: OutboxRow, secret: str | None, timestamp: int | None = None) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"cb-webhooks/{__version__}",
        IDEMPOTENCY_HEADER: row.id,
        "CB-Event": row.event,
        "CB-Delivery-Attempt": str(row.attempts),
    }
    if secret is not None:
        headers[HEADER] = sign(secret, row.body.encode(), timestamp)
    return headers


async def deliver(client: httpx.AsyncClient, row: OutboxRow, *, timeout_sec: float,
                  env: Mapping[str, str] = os.environ) -> Attempt:
    start = time.monotonic()

    def done(ok: bool, status: int | None, error: str | None) -> Attempt:
        return Attempt(ok, status, error, round((time.monotonic() - start) * 1000, 1))

    try:
        secret = resolve_secret(row.secret_ref, env)
    except SecretUnavailable as exc:
        return done(False, None, str(exc))
    body = row.body.encode()
    try:
        response = await client.post(row.url, content=body, headers=headers_for(row, secret),
                                     timeout=timeout_sec, follow_redirects=False)
    except httpx.TimeoutException:
        return done(False, None, f"timed out after {timeout_sec:g}s")
    except httpx.HTTPError as exc:
        return done(False, None, f"{type(exc).__name__}: {exc}"[:300])
    if 200 <= response.status_code < 300:
        return done(True, response.status_code, None)
    snippet = response.text[:200].strip()
    return done(False, response.status_code, f"HTTP {response.status_code}" + (f": {snippet}" if snippet else ""))
