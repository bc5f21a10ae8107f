"""Do-not-call URLs on their own: a source with no good list refuses every call of its policy
(fail closed), a fetch is bounded in size and time, plain http goes to loopback only, private
addresses never, and one line that is not a number rejects the whole list."""

from __future__ import annotations

import asyncio
import time
from http.server import BaseHTTPRequestHandler

import pytest

from cb.runner.compliance.clock import FixedClock
from cb.runner.compliance.dnc_urls import FetchError, UrlLists, fetch
from cb.runner.compliance.rules import Contact, Policy, judge
from cb.state import open_store
from tests.fakes.loopback import LoopbackServer

BODIES = {"/big": b"+12125550199\n" * 100, "/html": b"<html>sorry</html>\n", "/down": None}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        if self.path == "/slow":
            time.sleep(2)
        body = BODIES.get(self.path, b"+12125550199\n")
        self.send_response(500 if body is None else 200)
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *a):
        pass


@pytest.fixture
def server():
    s = LoopbackServer(Handler, "dnc")
    yield f"http://127.0.0.1:{s.port}"
    s.stop()


def test_no_good_list_refuses_every_call_and_a_failure_keeps_the_cached_one(server, tmp_path):
    store = open_store(tmp_path / "state", None)
    lists = UrlLists(store.connection, store.mutex, FixedClock(1_800_000_000))
    source = {"type": "url", "url": server + "/down"}
    assert asyncio.run(lists.refresh(source["url"])) == "HTTP 500"
    numbers, error = lists.read(source)
    policy = Policy("p", {"do_not_call": [source]}, frozenset(numbers), [error])
    assert judge(Contact("+12125550100"), [policy], 1_800_000_000)[0].outcome == "refused"

    good = {"type": "url", "url": server + "/list"}
    assert asyncio.run(lists.refresh(good["url"])) is None
    BODIES["/list"] = None  # the source starts failing
    try:
        assert asyncio.run(lists.refresh(good["url"])) == "HTTP 500"
    finally:
        del BODIES["/list"]
    assert lists.read(good) == ({"+12125550199"}, None)
    store.close()


def test_a_fetch_is_bounded_and_goes_only_where_allowed(server):
    with pytest.raises(FetchError, match="larger than 100 bytes"):
        asyncio.run(fetch(server + "/big", max_bytes=100))
    with pytest.raises(FetchError, match="within 0.5 s"):
        asyncio.run(fetch(server + "/slow", timeout=0.5))
    with pytest.raises(FetchError, match="line 1 is not an E.164 number"):
        asyncio.run(fetch(server + "/html"))
    with pytest.raises(FetchError, match="not a public or loopback"):
        asyncio.run(fetch("https://169.254.169.254/latest"))
    with pytest.raises(FetchError, match="only to loopback"):
        asyncio.run(fetch("http://8.8.8.8/list.txt"))
    assert asyncio.run(fetch(server + "/ok")) == {"+12125550199"}
