"""Where an HTTP tool may connect, and which ``${env:NAME}`` it may send, checked at call time.

``Policy`` is the one an HTTP tool was applied with (``policy`` in the tool's applied content:
cb.yaml's ``tools:`` when the project was planned, shown in the plan, re-checked by the runner's
apply and pinned with the tool for the call; without one, the strict default). The runner never
reads a cb.yaml of its own for it:

- ``env``: the variables a tool may send (names, or prefixes ending in ``*``). The runner's own
  credentials (``cb.secrets.runner_credential``: CB_*, TWILIO_*, provider API keys) never, whatever
  the list says. ``cb validate`` refuses both already; this is the second check.
- ``allow_networks``: CIDRs a tool may reach although they are not public. By default only global
  (public) addresses are allowed: loopback, private, link-local (169.254.169.254, the cloud
  metadata service), carrier-grade NAT, multicast, reserved and unspecified ranges are refused.

``pin`` resolves the URL's host once, checks every address, and returns the URL rewritten to the
checked address (with the Host header and TLS server name of the original), so a DNS answer that
changes between the check and the connect (rebinding) cannot move the request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any, Mapping

import httpx

from cb.secrets import ENV_REF, allowed_by, runner_credential

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Refused(Exception):
    """A tool request the policy does not allow; the message says why, for the tool's record."""


@dataclass(frozen=True)
class Policy:
    env: tuple[str, ...] = ()
    allow_networks: tuple[Network, ...] = field(default_factory=tuple)
    any_env: bool = False  # only for tests of the executor itself, never from cb.yaml

    @classmethod
    def applied(cls, policy: Mapping[str, Any] | None) -> "Policy":
        """The policy a tool was applied with (its content's ``policy``); the strict default without one."""
        if not policy:
            return cls()
        return cls(tuple(policy.get("env") or ()),
                   tuple(ipaddress.ip_network(n, strict=False) for n in policy.get("allow_networks") or ()))

    def check_env(self, text: str) -> None:
        for name in ENV_REF.findall(text):
            if runner_credential(name):
                raise Refused(f"${{env:{name}}} is the runner's own credential; tools may never send it")
            if not self.any_env and not allowed_by(name, self.env):
                raise Refused(f"${{env:{name}}} is not allowed for tools: list it under tools.env in cb.yaml")

    def check_address(self, host: str, address: str) -> None:
        ip = ipaddress.ip_address(address.split("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        if any(ip in net for net in self.allow_networks):
            return
        if not ip.is_global or ip.is_multicast:
            kind = ("loopback" if ip.is_loopback else "link-local" if ip.is_link_local
                    else "private" if ip.is_private else "special-purpose")
            shown = host if host == address else f"{host} ({address})"
            raise Refused(f"{shown} is a {kind} address; tools reach public addresses only unless cb.yaml "
                          f"lists its network under tools.allow_networks")


_POLICY = Policy()  # for callers that pass no policy: tests of the executor, cb test's stubbed tools


def configure(policy: Policy) -> None:
    global _POLICY
    _POLICY = policy


def current() -> Policy:
    return _POLICY


async def pin(url: str, policy: Policy) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(URL to connect to, headers to add, request extensions): the host resolved once and
    checked; Refused when an address it resolves to is not allowed."""
    parsed = httpx.URL(url)
    host = parsed.host
    if not host:
        raise Refused(f"{url!r} has no host")
    try:
        ipaddress.ip_address(host)
        addresses = [host]
    except ValueError:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, parsed.port or (443 if parsed.scheme == "https" else 80),
                                           type=socket.SOCK_STREAM)
        except OSError as exc:
            raise Refused(f"cannot resolve {host}: {exc}") from None
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
    for address in addresses:  # every answer: a name that also resolves inside is refused
        policy.check_address(host, address)
    if addresses[0] == host:
        return url, {}, {}
    ip = addresses[0]
    pinned = parsed.copy_with(host=ip)
    netloc = host if parsed.port is None else f"{host}:{parsed.port}"
    return str(pinned), {"Host": netloc}, ({"sni_hostname": host} if parsed.scheme == "https" else {})
