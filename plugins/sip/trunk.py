"""What a ``provider: sip`` Number declares under ``options``: the trunk it is reached through.

    options:
      listen: 127.0.0.1:5060      # where INVITEs arrive (UDP); loopback unless declared otherwise
      allow: [127.0.0.1/32]       # peers (addresses or CIDRs) allowed to send INVITEs; default loopback
      proxy: 127.0.0.1:5070       # where outbound INVITEs for `cb call` go (host:port)

Anything else is refused (``TrunkError``), so nothing declared is silently ignored.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Mapping

DEFAULT_LISTEN = ("127.0.0.1", 5060)
LOOPBACK = ("127.0.0.0/8", "::1/128")
KNOWN = {"listen", "allow", "proxy"}


class TrunkError(ValueError):
    pass


def host_port(value: str, default_port: int, what: str) -> tuple[str, int]:
    host, _, port = str(value).rpartition(":") if ":" in str(value) else (str(value), "", str(default_port))
    try:
        ipaddress.ip_address(host.strip("[]"))
        number = int(port)
    except ValueError:
        raise TrunkError(f"{what} {value!r} is not ADDRESS:PORT (an IP address, e.g. 127.0.0.1:5060)") from None
    if not 0 < number < 65536:
        raise TrunkError(f"{what} {value!r}: the port must be 1-65535")
    return host.strip("[]"), number


@dataclass(frozen=True)
class Trunk:
    number: str
    agent: str | None
    listen: tuple[str, int]
    allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    proxy: tuple[str, int] | None

    def allows(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.allow)


def trunk(spec: Mapping[str, Any]) -> Trunk:
    options = dict(spec.get("options") or {})
    unknown = sorted(set(options) - KNOWN)
    if unknown:
        raise TrunkError(f"options.{unknown[0]} is not a SIP trunk option (known: {', '.join(sorted(KNOWN))})")
    listen = host_port(options["listen"], 5060, "options.listen") if "listen" in options else DEFAULT_LISTEN
    try:
        allow = tuple(ipaddress.ip_network(str(a), strict=False) for a in options.get("allow", LOOPBACK))
    except ValueError as exc:
        raise TrunkError(f"options.allow: {exc} (addresses or CIDRs, e.g. 10.0.0.0/24)") from None
    proxy = host_port(options["proxy"], 5060, "options.proxy") if options.get("proxy") else None
    return Trunk(spec["number"], spec.get("agent"), listen, allow, proxy)
