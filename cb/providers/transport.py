"""The small interface a call transport satisfies: a listener the runner keeps in step with its Numbers.

A Twilio number needs nothing running in the runner (Twilio calls the voice webhook); a SIP trunk
does: something must listen on the declared address and turn INVITEs into calls. A transport is
found through the ``cb.call_transports`` entry-point group by the provider name of the Numbers
it serves (``sip``), built with ``from_settings(TransportSettings)``, and handed every Number of
its provider after each change of the live state (``sync``); it bridges each call onto the
runner's own voice webhook and Media Streams WebSocket, signed with the local token, so the call
takes the same path as any other. ``sync`` raises ``ProviderError`` when it cannot do what the
Numbers declare (an address it cannot bind), in words the operator can act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Mapping, Protocol, runtime_checkable

GROUP = "cb.call_transports"


@dataclass(frozen=True)
class TransportSettings:
    runner_url: str  # the runner as the transport reaches it (its bound address, never a public URL)
    local_token: str  # signs the voice webhooks the transport posts
    environ: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class CallTransport(Protocol):
    name: str

    def sync(self, numbers: list[Mapping[str, Any]]) -> None:
        """Serve exactly these Numbers (their ``spec``); ProviderError when that is impossible."""

    def close(self) -> None:
        """Stop listening; calls in progress are hung up."""

    # Optional: ``check(numbers)`` raises ProviderError when ``sync`` could not serve them (the apply
    # asks before it commits); ``validate_options(options)`` (static) lists a Number's option
    # problems as (code, option, problem, fix) for ``cb validate``.


def transport_names() -> set[str]:
    return {ep.name for ep in entry_points(group=GROUP)}


def load_transport(name: str, settings: TransportSettings) -> CallTransport:
    factory = [ep for ep in entry_points(group=GROUP) if ep.name == name][0].load()
    return factory.from_settings(settings)


def option_problems(provider: str, options: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """What the ``provider`` transport finds wrong with a Number's ``options``: (code, option, problem, fix).
    [] when no installed transport serves that provider or it does not check options."""
    found = [ep for ep in entry_points(group=GROUP) if ep.name == provider]
    if not found:
        return []
    check = getattr(found[0].load(), "validate_options", None)
    return list(check(options)) if check is not None else []
