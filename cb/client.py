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
