"""An inbound call's compliance decisions: the attestation minimum, and the recording disclosure.

Twilio reports its STIR/SHAKEN verification of the caller ID as ``StirVerstat`` on the voice
webhook: ``TN-Validation-Passed-A`` (full attestation), ``-B`` (partial), ``-C`` (gateway);
``TN-Validation-Failed-*``, ``No-TN-Validation`` or nothing mean no verified attestation. A policy
of the agent with ``attestation: B`` answers only A and B: any other caller hears the policy's
``attestation_message`` (or ``DEFAULT_MESSAGE``) and the call ends, recorded as ``refused``.
Every decision is kept on the inbound call record, as on an outbound one.
"""

from __future__ import annotations

from typing import Any

from cb.state.types import thaw

from .disclosure import for_call

#: Stronger first: A is full attestation.
RANK = {"A": 3, "B": 2, "C": 1}
DEFAULT_MESSAGE = "Sorry, this line cannot take your call. Goodbye."


def attestation_of(verstat: str | None) -> str | None:
    """"TN-Validation-Passed-A" -> "A"; failed, absent or unknown -> None."""
    text = (verstat or "").strip()
    if text.startswith("TN-Validation-Passed-") and text[-1:] in RANK:
        return text[-1]
    return None


def judge(snapshot: Any, agent: str, caller: str | None, verstat: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """(every decision, the message to say before hanging up, or None to answer)."""
    rev = snapshot.resources.get(agent if agent.startswith("agent.") else f"agent.{agent}")
    if rev is None or rev.content is None:
        return [], None
    spec = thaw(rev.content)["spec"]
    decisions: list[dict[str, Any]] = []
    refusal = None
    got = attestation_of(verstat)
    for name in spec.get("compliance") or []:
        pol = snapshot.resources.get(f"compliance_policy.{name}")
        rule = thaw(pol.content)["spec"] if pol is not None and pol.content is not None else {}
        need = rule.get("attestation")
        if not need:
            continue
        seen = f"StirVerstat {verstat!r}" if verstat else "no StirVerstat"
        if got and RANK[got] >= RANK[need]:
            decisions.append({"rule": "attestation", "policy": name, "outcome": "allowed",
                              "detail": f"{seen}: attestation {got}, at least {need}"})
            continue
        decisions.append({"rule": "attestation", "policy": name, "outcome": "refused",
                          "detail": f"{seen}: attestation {got or 'none'} is below the minimum {need}; the caller "
                          "heard the policy's message and the call ended"})
        refusal = refusal or (rule.get("attestation_message") or DEFAULT_MESSAGE)
    if refusal is None:
        disclosure = for_call(snapshot, spec, caller)
        if disclosure is not None:
            decisions.append(disclosure.decision())
    return decisions, refusal
