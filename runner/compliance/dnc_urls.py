"""Do-not-call lists read from URLs: fetched on apply and every ``refresh_minutes``, kept in the
state database so a runner that restarts without the network still has the last good list.

A fetch is bounded: ``MAX_BYTES`` of body and ``TIMEOUT_SEC`` in all, no redirects. It goes over
https, or over plain http only to loopback (nothing on the way to read or change the list); the
address is checked with the HTTP tools' egress rules (``runner.tools.egress.pin``: resolved once,
every answer checked, the connection pinned to the checked address), so a list URL cannot reach
private networks or the cloud metadata service either. The body is E.164 numbers, one a line
(``#`` comments, blank lines, a CSV's first column); one line that is not a number rejects the
whole fetch, so an error page served with 200 cannot empty the list.

``cb_dnc_url_lists`` keeps, per URL (by its SHA-256: a URL may carry a token), the numbers of the
last good fetch, when it was fetched, when it was last tried and the last error. The dialler reads
the list from there: a URL with no good fetch yet refuses every call of its policy (fail closed);
one whose last try failed keeps the cached list and is *stale*, which ``/readyz`` and ``cb plan``
report by policy name and source index (never the URL, never a number).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import logging
import re
from datetime import datetime, timezone
from typing import Any, Iterable

import httpx

from cb.state.types import thaw

from ..tools import egress

log = logging.getLogger("cb.runner.compliance")

TABLE = "cb_dnc_url_lists"
SCHEMA = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    key TEXT PRIMARY KEY,
    numbers TEXT,
    fetched_at DOUBLE PRECISION,
    tried_at DOUBLE PRECISION NOT NULL,
    error TEXT)"""

MAX_BYTES = 10 * 1024 * 1024
TIMEOUT_SEC = 10.0
DEFAULT_REFRESH_MINUTES = 60
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


class FetchError(Exception):
    """Why a list could not be read; the message names no URL (it may carry a token)."""


def key_of(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


def parse(text: str) -> set[str]:
    out = set()
    for n, line in enumerate(text.splitlines(), 1):
        cell = line.split("#", 1)[0].split(",", 1)[0].strip().strip('"')
        if not cell or (n == 1 and not cell.startswith("+") and cell.isidentifier()):  # blank, or a CSV header
            continue
        if not E164.match(cell):
            raise FetchError(f"line {n} is not an E.164 number")
        out.add(cell)
    return out


async def fetch(url: str, *, max_bytes: int = MAX_BYTES, timeout: float = TIMEOUT_SEC) -> set[str]:
    """The numbers at ``url``, or FetchError."""
    scheme = httpx.URL(url).scheme
    if scheme not in ("https", "http"):
        raise FetchError(f"{scheme or 'no'} scheme: a do-not-call URL is https (or http to loopback)")
    policy = egress.Policy(allow_networks=LOOPBACK)
    try:
        target, headers, extensions = await egress.pin(url, policy)
    except egress.Refused:
        raise FetchError("its host is not a public or loopback address (or does not resolve)") from None
    if scheme == "http":
        ip = ipaddress.ip_address(httpx.URL(target).host.split("%")[0])
        if not any(ip in net for net in LOOPBACK):
            raise FetchError("plain http is allowed only to loopback: use https")

    async def read() -> bytes:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            async with client.stream("GET", target, headers=headers, extensions=extensions) as response:
                if response.status_code != 200:
                    raise FetchError(f"HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise FetchError(f"larger than {max_bytes} bytes")
                return bytes(body)

    try:
        body = await asyncio.wait_for(read(), timeout)
    except asyncio.TimeoutError:
        raise FetchError(f"no complete answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise FetchError(type(exc).__name__) from None
    try:
        return parse(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise FetchError("not UTF-8 text") from None


def url_sources(snapshot: Any) -> Iterable[tuple[str, int, dict[str, Any]]]:
    """(policy name, source index, source) for every applied policy's URL source."""
    for address, rev in sorted(snapshot.resources.items()):
        if not address.startswith("compliance_policy.") or rev.content is None:
            continue
        spec = thaw(rev.content).get("spec") or {}
        for i, source in enumerate(spec.get("do_not_call") or []):
            if isinstance(source, dict) and source.get("type") == "url" and source.get("url"):
                yield address.split(".", 1)[1], i, source


class UrlLists:
    """The cached lists, written through the state store's connection (like the dial queue)."""

    def __init__(self, conn: Any, mutex: Any, clock: Any):
        self.conn, self.mutex, self.clock = conn, mutex, clock
        with self.mutex:
            self.conn.execute(SCHEMA)

    def get(self, url: str) -> dict[str, Any] | None:
        with self.mutex:
            row = self.conn.execute(f"SELECT numbers, fetched_at, tried_at, error FROM {TABLE} WHERE key = ?",
                                    (key_of(url),)).fetchone()
        if row is None:
            return None
        return {"numbers": set(json.loads(row[0])) if row[0] is not None else None, "fetched_at": row[1],
                "tried_at": row[2], "error": row[3]}

    def _save(self, url: str, numbers: set[str] | None, error: str | None) -> None:
        now = self.clock.now()
        with self.mutex:
            if numbers is not None:
                self.conn.execute(
                    f"INSERT INTO {TABLE} (key, numbers, fetched_at, tried_at, error) VALUES (?, ?, ?, ?, NULL)"
                    " ON CONFLICT (key) DO UPDATE SET numbers = excluded.numbers, fetched_at = excluded.fetched_at,"
                    " tried_at = excluded.tried_at, error = NULL", (key_of(url), json.dumps(sorted(numbers)), now, now))
            else:
                self.conn.execute(
                    f"INSERT INTO {TABLE} (key, numbers, fetched_at, tried_at, error) VALUES (?, NULL, NULL, ?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET tried_at = excluded.tried_at, error = excluded.error",
                    (key_of(url), now, error))

    def read(self, source: dict[str, Any]) -> tuple[set[str], str | None]:
        """The dialler's view of one URL source: (numbers, error); an error only with no good list."""
        got = self.get(source["url"])
        if got is None or got["numbers"] is None:
            why = got["error"] if got else "not fetched yet"
            return set(), f"a do-not-call URL has no good list ({why})"
        return got["numbers"], None

    async def refresh(self, url: str) -> str | None:
        """Fetch one URL and keep the result; the error, or None."""
        try:
            numbers = await fetch(url)
        except FetchError as exc:
            await asyncio.to_thread(self._save, url, None, str(exc))
            log.warning("a do-not-call URL could not be read (%s); the last good list stays in use", exc)
            return str(exc)
        await asyncio.to_thread(self._save, url, numbers, None)
        return None

    async def refresh_due(self, snapshot: Any, force: bool = False) -> None:
        """Fetch every URL source whose refresh interval has passed (every one with ``force``)."""
        now = self.clock.now()
        seen: set[str] = set()
        for _, _, source in url_sources(snapshot):
            url = source["url"]
            if url in seen:
                continue
            seen.add(url)
            got = await asyncio.to_thread(self.get, url)
            every = 60 * (source.get("refresh_minutes") or DEFAULT_REFRESH_MINUTES)
            if force or got is None or got["tried_at"] + every <= now:
                await self.refresh(url)

    def stale(self, snapshot: Any) -> dict[str, list[dict[str, Any]]]:
        """Per policy, its URL sources whose last try failed or that have no good list (names only)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for name, i, source in url_sources(snapshot):
            got = self.get(source["url"])
            if got is not None and got["error"] is None and got["numbers"] is not None:
                continue
            when = got and got["fetched_at"]
            out.setdefault(name, []).append({
                "source": i, "error": got["error"] if got else "not fetched yet",
                "cached": bool(got and got["numbers"] is not None),
                "last_refresh": datetime.fromtimestamp(when, timezone.utc).isoformat(timespec="seconds")
                if when else None})
        return out

    # ------------------------------------------------------------------ the refresher
    TICK_SEC = 30.0  # how often due lists are looked for; each list is fetched every refresh_minutes

    def start(self, store: Any) -> None:
        """Fetch what is due now (a list cached within its interval is kept: a restart without the
        network still has it), then on every apply that changes a policy with a URL source, and
        whenever a list's interval has passed."""
        self._loop = asyncio.get_running_loop()
        self._applied = asyncio.Event()
        self._seen = self._policies(store.snapshot())
        self._store = store
        self._unsubscribe = store.subscribe(lambda snap: self._loop.call_soon_threadsafe(self._applied.set))
        self._task = self._loop.create_task(self._run())

    @staticmethod
    def _policies(snapshot: Any) -> dict[str, str]:
        """Policy address -> its applied content (JSON), for the policies with a URL source."""
        names = {name for name, _, _ in url_sources(snapshot)}
        return {f"compliance_policy.{n}": json.dumps(thaw(snapshot.resources[f"compliance_policy.{n}"].content),
                                                      sort_keys=True, default=str) for n in names}

    async def _run(self) -> None:
        try:
            await self.refresh_due(self._store.snapshot())
        except Exception:  # noqa: BLE001 - a database hiccup: the next round tries again
            log.exception("do-not-call URL refresh failed")
        while True:
            try:
                await asyncio.wait_for(self._applied.wait(), self.TICK_SEC)
            except asyncio.TimeoutError:
                pass
            self._applied.clear()
            try:
                snapshot = self._store.snapshot()
                now = self._policies(snapshot)
                changed = [a for a, content in now.items() if self._seen.get(a) != content]
                self._seen = now
                for address in changed:  # applied just now: fetch its lists at once
                    name = address.split(".", 1)[1]
                    for url in {s["url"] for n, _, s in url_sources(snapshot) if n == name}:
                        await self.refresh(url)
                await self.refresh_due(snapshot)
            except Exception:  # noqa: BLE001
                log.exception("do-not-call URL refresh failed")

    async def stop(self) -> None:
        task = getattr(self, "_task", None)
        if task is None:
            return
        self._unsubscribe()
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):  # noqa: BLE001
            pass
