"""The small interface a dialer satisfies: how the runner places an outbound call (Twilio, local, SIP).

A dialer is found through the ``cb.dialers`` entry-point group (built-ins too), by the provider
name of the Number the call goes out from (``twilio``, ``local``, later ``sip``), and built with
``from_settings(DialerSettings)``. The runner hands it one ``Dial``: where the call goes, the
signed voice URL the callee's answer must fetch (it names the agent and the call), and the status
and answering-machine callback URLs; the dialer answers with the provider's call id, or raises
``DialError`` carrying the provider's own error code and message (Twilio's 21215, …), which end
in the call record and its webhook.

A dialer that cannot detect answering machines itself (``carrier_amd = False``: local, SIP) leaves
it to the runner's local detector; one that can (Twilio) posts ``AnsweredBy`` to ``amd_url``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Mapping, Protocol, runtime_checkable

from .base import ProviderError

GROUP = "cb.dialers"

#: A call's states as the record walks them (Twilio's CallStatus values, plus cb's own ``queued``).
STATES = ("queued", "initiated", "ringing", "in-progress", "completed", "busy", "no-answer", "failed", "canceled")
FINAL_STATES = ("completed", "busy", "no-answer", "failed", "canceled")

#: AnsweredBy values (Twilio's, and the local detector's).
ANSWERED_BY = ("human", "machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other",
               "fax", "unknown")


@dataclass(frozen=True)
class DialerSettings:
    """What every dialer may need from the runner."""

    public_base_url: str  # where the callee's side reaches the runner
    local_token: str | None = None  # signs the local callee's webhooks, as Twilio's auth token signs its own
    environ: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Dial:
    """One outbound call to place."""

    call_id: str  # cb's id (call_…)
    to: str  # E.164
    from_: str  # E.164: a declared Number with outbound_calls
    voice_url: str  # fetched (POST, signed) when the callee answers; names the agent and the call
    status_url: str  # every state change is posted here (signed)
    amd_url: str | None = None  # AnsweredBy is posted here (signed); None: no detection asked
    machine_detection: str | None = None  # Enable | DetectMessageEnd | None
    ring_timeout_sec: int = 30
    time_limit_sec: int | None = None
    callee: Mapping[str, Any] | None = None  # the simulated callee's script (local dialer only)


@dataclass(frozen=True)
class Placed:
    provider_call_id: str
    status: str = "queued"


class DialError(ProviderError):
    """The provider refused the call. ``code`` and ``provider_message`` go into the record."""

    def __init__(self, message: str, *, code: int | None = None, provider_message: str | None = None,
                 status: int | None = None):
        super().__init__(message)
        self.code = code
        self.provider_message = provider_message or message
        self.status = status


@runtime_checkable
class Dialer(Protocol):
    name: str
    carrier_amd: bool  # True: the provider posts AnsweredBy; False: the runner detects it itself

    def place(self, dial: Dial) -> Placed:
        """Start the call; raise DialError if the provider refuses it."""

    def hang_up(self, provider_call_id: str, *, answered: bool) -> None:
        """End the call in whatever state it is (cancel a ringing call, complete an answered one)."""


def load_dialer(name: str, settings: DialerSettings) -> Dialer:
    """The dialer called ``name``; ProviderError with a fix when none is installed."""
    found = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not found:
        raise ProviderError(f"no dialer named {name!r} is installed: outbound calls from a {name} number are "
                            "not supported yet (use a twilio or local Number with outbound_calls: true)")
    factory = found[0].load()
    return factory.from_settings(settings) if hasattr(factory, "from_settings") else factory()
