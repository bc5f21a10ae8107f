"""Issue 15, items 7 and 8: a tool sends only the variables cb.yaml allows, never the runner's own
credentials, and reaches only public addresses unless cb.yaml allows a network (DNS checked at call time)."""

from __future__ import annotations

import asyncio
import ipaddress

import httpx
import pytest

from cb.config.models import HttpRun
from cb.runner.tools import egress, http

STRICT = egress.Policy(env=("BOOKING_*",))


def outcome(url, headers=None, policy=STRICT, env=None):
    run = HttpRun(url=url, headers=headers or {}, timeout_ms=2000)

    async def go():
        async with httpx.AsyncClient() as client:
            return await http.call(client, run, {}, env or {"BOOKING_TOKEN": "b", "TWILIO_AUTH_TOKEN": "t",
                                                        "CB_TOKEN": "c", "OTHER": "o"}, policy)
    return asyncio.run(go())


@pytest.mark.parametrize("url,headers", [
    ("https://api.example.com/x", {"X-Leak": "${env:TWILIO_AUTH_TOKEN}"}),
    ("https://api.example.com/x?t=${env:CB_TOKEN}", {}),
])
def test_the_runners_own_credentials_are_never_sent(url, headers):
    out = outcome(url, headers, policy=egress.Policy(env=("TWILIO_*", "CB_*")))  # even when "allowed"
    assert (out.status, out.attempts) == ("refused", 0) and "runner's own credential" in out.error
    assert "t" != out.error and "secret" not in out.error


def test_a_variable_cb_yaml_does_not_list_is_refused():
    out = outcome("https://api.example.com/x", {"Authorization": "Bearer ${env:OTHER}"})
    assert out.status == "refused" and "tools.env" in out.error


@pytest.mark.parametrize("url,kind", [
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://127.0.0.1:8765/v1/state", "loopback"),
    ("http://localhost@169.254.169.254/", "link-local"),
    ("http://10.0.0.5/", "private"),
    ("http://[::1]:8765/", "loopback"),
    ("http://localhost:8765/v1/state", "loopback"),  # a name is resolved and its address checked
])
def test_special_addresses_are_refused_with_the_reason(url, kind):
    out = outcome(url)
    assert out.status == "refused" and kind in out.error and "allow_networks" in out.error


def test_an_allowed_network_is_reached_at_the_address_checked():
    policy = egress.Policy(allow_networks=(ipaddress.ip_network("127.0.0.0/8"),))
    url, headers, _ = asyncio.run(egress.pin("http://localhost:9/x", policy))
    assert url.startswith("http://127.0.0.1:9/") or url.startswith("http://[::1]")
    assert headers == {"Host": "localhost:9"}


def test_a_name_that_resolves_inside_is_refused_even_if_one_answer_is_public(monkeypatch):
    async def rebinding(host, port, **kw):
        return [(2, 1, 6, "", ("93.184.216.34", port)), (2, 1, 6, "", ("127.0.0.1", port))]
    loop = asyncio.new_event_loop()
    monkeypatch.setattr(loop, "getaddrinfo", rebinding)
    with pytest.raises(egress.Refused, match="loopback"):
        loop.run_until_complete(egress.pin("http://rebind.example/x", STRICT))
    loop.close()
