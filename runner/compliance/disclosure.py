"""Recording consent: which disclosure a call speaks first, and whether its recording must wait.

An agent's CompliancePolicy may declare ``recording_consent: {required, disclosure,
all_party_states}``. The disclosure is said before anything else on every call of the agent (the
call plan puts it before the greeting; an outbound call greets once a person has answered, so a
person hears it). Consent is *required* when the policy says so, or when the other party's state
(from the number, ``zones.state_for``) is one of its all-party-consent states, or unknown while
such states are listed. Then the recording holds its audio until the disclosure has played
uninterrupted (``runner.postcall.capture``), or, with no disclosure text, records no audio at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cb.state.types import thaw

from . import zones


@dataclass(frozen=True)
class Disclosure:
    policy: str
    text: str | None
    #: "after_disclosure": audio is recorded only once the disclosure has played; "off": none;
    #: None: recorded from the start (consent not required here).
    hold: str | None
    state: str | None

    def decision(self) -> dict[str, Any]:
        where = f" (callee's state {self.state or 'unknown'})"
        if self.hold == "off":
            return {"rule": "recording_disclosure", "policy": self.policy, "outcome": "recording_off",
                    "detail": "consent is required" + where + " and the policy has no disclosure to speak: no audio "
                    "is recorded"}
        held = "the recording starts after it has played" if self.hold else "consent not required" + where
        return {"rule": "recording_disclosure", "policy": self.policy, "outcome": "allowed",
                "detail": f"spoken first, before the greeting: {self.text!r}; {held}"}


def for_call(snapshot: Any, spec: dict[str, Any], number: str | None) -> Disclosure | None:
    """The recording-consent rule of the first of the agent's policies that declares one."""
    for name in spec.get("compliance") or []:
        rev = snapshot.resources.get(f"compliance_policy.{name}")
        if rev is None or rev.content is None:
            continue
        rule = thaw(rev.content)["spec"].get("recording_consent")
        if not rule:
            continue
        state = zones.state_for(number) if number else None
        listed = rule.get("all_party_states") or []
        required = rule.get("required", True) or (bool(listed) and (state is None or state in listed))
        text = (rule.get("disclosure") or "").strip() or None
        hold = ("after_disclosure" if text else "off") if required else None
        return Disclosure(name, text, hold, state)
    return None
