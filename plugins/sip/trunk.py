"""What a ``provider: sip`` Number declares under ``options``: the trunk it is reached through.

    options:
      listen: 127.0.0.1:5060      # where INVITEs arrive (UDP); loopback unless declared otherwise
      allow: [127.0.0.1/32]       # peers (addresses or CIDRs) allowed to send INVITEs; default loopback
      proxy: 127.0.0.1:5070       # where outbound INVITEs for `cb call` go (host:port)

Anything else is refused (``TrunkError``), so nothing declared is silently ignored; ``problems``
lists every one at once, for ``cb validate`` (through ``SipGateway.validate_options``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Mapping

from cb.config.fielderrors import did_you_mean

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


NOT_YET = {  # option -> (what is missing, the fix)
    "digest": ("digest authentication is not supported yet",
               "remove options.digest and restrict the trunk to its peers' addresses or CIDRs with options.allow"),
    "register": ("registering with a registrar is not supported yet",
                 "remove options.register; the runner places calls through options.proxy"),
}


def problems(options: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """Every problem with a trunk's options: (code, option, what is wrong, the fix); [] when it is
    sound. The codes are ``cb validate``'s: CB101 an unknown option, CB102 a value cb cannot use."""
    out = []
    for key in sorted(set(options) - KNOWN, key=str):
        if key in NOT_YET:
            message, fix = NOT_YET[key]
            out.append(("CB102", str(key), f"options.{key} is not a SIP trunk option: {message}", fix))
        else:
            guess = did_you_mean(str(key), KNOWN)
            out.append(("CB101", str(key), f"options.{key} is not a SIP trunk option",
                        f"did you mean '{guess}'?" if guess else f"known: {', '.join(sorted(KNOWN))}"))
    for key, check in (("listen", lambda v: host_port(v, 5060, "options.listen")),
                       ("allow", _allow), ("proxy", lambda v: host_port(v, 5060, "options.proxy"))):
        if options.get(key) not in (None, ""):
            try:
                check(options[key])
            except TrunkError as exc:
                message, _, fix = str(exc).partition(" (")
                out.append(("CB102", key, message, fix.rstrip(")")))
    return out


def _allow(value: Any) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise TrunkError(f"options.allow: {value!r} is not a list (a list of addresses or CIDRs, e.g. [10.0.0.0/24])")
    try:
        return tuple(ipaddress.ip_network(str(a), strict=False) for a in value)
    except ValueError as exc:
        raise TrunkError(f"options.allow: {exc} (addresses or CIDRs, e.g. 10.0.0.0/24)") from None


def trunk(spec: Mapping[str, Any]) -> Trunk:
    options = dict(spec.get("options") or {})
    found = problems(options)
    if found:
        _, _, message, fix = found[0]
        raise TrunkError(f"{message} ({fix})" if fix else message)
    listen = host_port(options["listen"], 5060, "options.listen") if "listen" in options else DEFAULT_LISTEN
    allow = _allow(options.get("allow", LOOPBACK))
    proxy = host_port(options["proxy"], 5060, "options.proxy") if options.get("proxy") else None
    return Trunk(spec["number"], spec.get("agent"), listen, allow, proxy)
