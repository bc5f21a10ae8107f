"""The CLI's way to the runner: its admin API over HTTP.

The runner is found from ``--runner``, else ``CB_RUNNER_URL``, else the project file's
``runner.url``; the token from ``--token-file``/``CB_TOKEN_FILE``, else ``CB_TOKEN``.
Every failure is a RunnerError whose message says what to do.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

import httpx

DEFAULT_URL = "http://127.0.0.1:8765"


class RunnerError(Exception):
    """The runner refused or could not be reached. ``status`` is the HTTP status (0: unreachable)."""

    def __init__(self, message: str, status: int = 0, body: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.body = body or {}


def resolve_url(flag: str | None, project_url: str | None) -> str:
    return (flag or os.environ.get("CB_RUNNER_URL") or project_url or DEFAULT_URL).rstrip("/")


def resolve_token(token_file: str | None = None) -> str | None:
    path = token_file or os.environ.get("CB_TOKEN_FILE")
    if path:
        return Path(path).read_text().strip() or None
    return os.environ.get("CB_TOKEN") or None


class RunnerClient:
    def __init__(self, url: str, token: str | None = None, timeout: float = 60.0):
        self.url = url.rstrip("/")
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "RunnerClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _call(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise RunnerError(f"cannot reach the runner at {self.url} ({exc.__class__.__name__}: {exc}); "
                              "start it with `cb runner`, or point --runner / CB_RUNNER_URL at it") from None
        return self._decode(response)

    def readiness(self) -> dict[str, Any]:
        """``/readyz``'s body, ready (200) or not (503)."""
        try:
            return self._http.get("/readyz").json()
        except (httpx.HTTPError, ValueError):
            return {}

    def _decode(self, response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = {"error": response.text[:500]}
        if response.status_code >= 400:
            raise RunnerError(str(body.get("error") or body), response.status_code, body)
        return body

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/healthz")

    def state(self, refresh: bool = False) -> dict[str, Any]:
        return self._call("GET", "/v1/state", params={"refresh": "true"} if refresh else None)

    def contents(self, addresses: list[str]) -> dict[str, Any]:
        return self._call("POST", "/v1/state/contents", json={"addresses": addresses})["contents"]

    def observe(self, documents: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/v1/state/observe", json={"documents": documents})["observed"]

    def credentials(self, agents: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/v1/state/credentials", json={"agents": agents})["credentials"]

    def lock(self, holder: str, operation: str) -> dict[str, Any]:
        return self._call("POST", "/v1/lock", json={"holder": holder, "operation": operation})["lock"]

    def current_lock(self) -> dict[str, Any] | None:
        return self._call("GET", "/v1/lock")["lock"]

    def unlock(self, lock_id: str) -> None:
        self._call("DELETE", f"/v1/lock/{lock_id}")

    def apply(self, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Stream the apply's progress events; the last one is {"event": "result", "result": {...}}."""
        try:
            with self._http.stream("POST", "/v1/apply", json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    self._decode(response)
                for line in response.iter_lines():
                    if line.strip():
                        yield json.loads(line)
        except httpx.HTTPError as exc:
            raise RunnerError(f"lost the runner at {self.url} during apply ({exc}); run `cb plan` to see what "
                              "landed: state only records what was applied") from None

    def import_(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/v1/import", json=body)

    def history(self, address: str | None = None, content: bool = False) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"content": "true" if content else "false"}
        if address:
            params["address"] = address
        return self._call("GET", "/v1/history", params=params)["revisions"]

    def revision(self, address: str, ref: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/revisions/{address}/{ref}")["revision"]

    def audit(self, against: dict[str, Any] | None = None) -> dict[str, Any]:
        if against is not None:
            return self._call("POST", "/v1/audit/verify", json={"against": against})
        return self._call("GET", "/v1/audit/verify")

    def checkpoint(self) -> dict[str, Any]:
        return self._call("GET", "/v1/audit/checkpoint")["checkpoint"]

    # ---------------------------------------------------------------- calls
    def create_call(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /v1/calls: the call's record (``queued``), or RunnerError naming what to fix."""
        return self._call("POST", "/v1/calls", json=body)

    def get_call(self, call_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/calls/{call_id}")

    def hangup_call(self, call_id: str) -> dict[str, Any]:
        return self._call("DELETE", f"/v1/calls/{call_id}")

    def create_calls(self, calls: list[dict[str, Any]]) -> dict[str, Any]:
        """POST /v1/calls/batch: ``{batch, queued: [ids]}``; none is queued when any is bad (RunnerError
        whose body lists ``problems: [{index, error}]``)."""
        return self._call("POST", "/v1/calls/batch", json={"calls": calls})

    def dial_queue(self, agent: str | None = None, all: bool = False) -> dict[str, Any]:
        """GET /v1/dial-queue: ``{queue: [entries with their reasons], counts}``."""
        params: dict[str, Any] = {"all": "true"} if all else {}
        if agent:
            params["agent"] = agent
        return self._call("GET", "/v1/dial-queue", params=params)


FINAL_STATES = ("completed", "busy", "no-answer", "failed", "canceled", "refused")


class Call(dict):
    """A call record as the runner returns it; ``call.id``, ``call.status`` read like attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class Calls:
    """``client.calls``: the article's ``client.calls.create(agent_id=…, to=…, webhook_url=…, context={…})``."""

    def __init__(self, runner: RunnerClient):
        self._runner = runner

    def create(self, *, agent_id: str | None = None, agent: str | None = None, to: str, from_: str | None = None,
               context: dict[str, Any] | None = None, webhook_url: str | None = None,
               metadata: dict[str, Any] | None = None, **extra: Any) -> Call:
        body: dict[str, Any] = {"agent": agent or agent_id, "to": to, **extra}
        for key, value in (("from", from_), ("context", context), ("webhook_url", webhook_url),
                           ("metadata", metadata)):
            if value is not None:
                body[key] = value
        made = self._runner.create_call(body)  # a refusal is a RunnerError (its body has the record)
        if "id" not in made and isinstance(made.get("queued"), dict):
            # The call waits in the dial queue (202): its id is the queue entry's (``q_…``), status
            # ``waiting``; ``calls.queued()`` lists it with its reason, and the call's own record,
            # once dialled, names it from the entry's ``call_id``.
            entry = made["queued"]
            return Call({**entry, "id": entry["id"], "status": entry.get("status", "waiting"), "queued": entry})
        return Call(made)

    def get(self, call_id: str) -> Call:
        return Call(self._runner.get_call(call_id))

    def create_many(self, calls: list[dict[str, Any]]) -> dict[str, Any]:
        """Queue many calls (each a ``create`` body: agent, to, context, tz, consent...): the dialler
        places each when the agent's compliance policies allow it."""
        return self._runner.create_calls(calls)

    def queued(self, agent: str | None = None) -> list[dict[str, Any]]:
        """The dial queue's waiting entries, each with ``reason`` and ``not_before``."""
        return self._runner.dial_queue(agent)["queue"]

    def hangup(self, call_id: str) -> Call:
        return Call(self._runner.hangup_call(call_id))

    def wait(self, call_id: str, *, timeout: float = 900.0, every: float = 0.5,
             on_status: Any = None) -> Call:
        """Follow the call's states until it ends (``on_status(status)`` at each change); the final record."""
        import time

        deadline, seen = time.monotonic() + timeout, None
        while True:
            call = self.get(call_id)
            if call.status != seen:
                seen = call.status
                if on_status is not None:
                    on_status(call)
            if call.status in FINAL_STATES and call.get("ended_at"):
                return call
            if time.monotonic() > deadline:
                raise RunnerError(f"call {call_id} still {call.status} after {timeout:.0f} s")
            time.sleep(every)


class Client:
    """The runner's API for programs: ``Client().calls.create(agent_id="front-desk", to="+1…")``.

    The runner and token come from the arguments, else CB_RUNNER_URL and CB_TOKEN (CB_TOKEN_FILE).
    """

    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 60.0):
        self.runner = RunnerClient(resolve_url(url, None), token or resolve_token(), timeout)
        self.calls = Calls(self.runner)

    def close(self) -> None:
        self.runner.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
