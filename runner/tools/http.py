"""Run an HTTP tool: resolve ``${env:NAME}`` at call time, retry what is worth retrying.

``timeout_ms`` bounds the whole tool call, retries included: it is how long the caller may wait
on the line, so a retry never extends it. Retried: 5xx, 429 and connection failures, each after a
short pause; a 4xx is the tool saying no, and is answered at once.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass
from typing import Any, Mapping

import httpx

from cb.config.models import HttpRun
from cb.secrets import UnsetVariable, substitute

from . import egress

MAX_RESULT_CHARS = 4000


@dataclass
class HttpOutcome:
    ok: bool
    status: str  # ok | http_error | timeout | error | refused (the egress policy said no)
    http_status: int | None
    attempts: int
    result: Any = None
    error: str | None = None


def _scrub(message: str, secrets: list[str]) -> str:
    """An error text fit for logs: httpx may quote the URL, and a URL may carry a secret."""
    for secret in secrets:
        message = message.replace(secret, "[redacted]")
    return message


def _result(response: httpx.Response) -> Any:
    if "json" in response.headers.get("content-type", ""):
        try:
            data = response.json()
            if len(json.dumps(data)) <= MAX_RESULT_CHARS:
                return data
        except ValueError:
            pass
    return response.text[:MAX_RESULT_CHARS]


async def call(client: httpx.AsyncClient, run: HttpRun, args: dict[str, Any],
               env: Mapping[str, str] = os.environ, policy: egress.Policy | None = None) -> HttpOutcome:
    policy = policy or egress.current()
    secrets: list[str] = []
    try:
        for text in (run.url, *run.headers.values()):
            policy.check_env(text)
        url = substitute(run.url, env, secrets)
        headers = {k: substitute(v, env, secrets) for k, v in run.headers.items()}
        url, extra, extensions = await egress.pin(url, policy)  # connect to the address checked
    except UnsetVariable as exc:
        return HttpOutcome(False, "error", None, 0, error=str(exc))
    except egress.Refused as exc:
        return HttpOutcome(False, "refused", None, 0, error=_scrub(f"refused: {exc}", secrets)[:300])
    request: dict[str, Any] = {"headers": {**headers, **extra}, "extensions": extensions}
    if run.method in ("GET", "DELETE"):
        request["params"] = {k: v if isinstance(v, (str, int, float)) else json.dumps(v) for k, v in args.items()}
    else:
        request["json"] = args
    deadline = time.monotonic() + run.timeout_ms / 1000
    attempts, last = 0, HttpOutcome(False, "error", None, 0, error="not attempted")
    while attempts <= run.retries:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        attempts += 1
        try:
            response = await asyncio.wait_for(
                client.request(run.method, url, timeout=remaining, **request), timeout=remaining)
        except (asyncio.TimeoutError, httpx.TimeoutException):
            return HttpOutcome(False, "timeout", None, attempts, error=f"timed out after {run.timeout_ms} ms")
        except httpx.HTTPError as exc:
            last = HttpOutcome(False, "error", None, attempts, error=_scrub(f"{type(exc).__name__}: {exc}", secrets)[:300])
        else:
            if response.is_success:
                return HttpOutcome(True, "ok", response.status_code, attempts, result=_result(response))
            last = HttpOutcome(False, "http_error", response.status_code, attempts,
                               result=_result(response), error=f"HTTP {response.status_code}")
            if response.status_code < 500 and response.status_code != 429:
                return last
        pause = min(0.1 * 2 ** (attempts - 1), max(0.0, deadline - time.monotonic()))
        await asyncio.sleep(pause)
    if time.monotonic() >= deadline and last.status == "error" and last.attempts == 0:
        return HttpOutcome(False, "timeout", None, attempts, error=f"timed out after {run.timeout_ms} ms")
    return last
