"""The body of ``POST /v1/calls``: place an outbound call (the article's ``client.calls.create``).

Shared by the runner (which checks it), ``cb.client`` and ``cb call --to`` (which send it).
``agent`` takes a name or an address (``front-desk`` or ``agent.front-desk``), ``agent_id`` is
the article's spelling of the same. Everything else the runner checks against the pinned state
(the agent exists and may call out, ``from`` is a declared outbound Number, ``context`` matches
the agent's declared variables) before anything dials.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

E164 = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{1,14}$")]


class CalleeLine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    say: str
    pause_ms: int = Field(300, ge=0, le=10000)


class AnsweringMachine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    greeting: str = Field(description="What the machine says after it picks up.")
    beep_after_ms: int | None = Field(
        600, ge=0, le=10000, description="Silence between the greeting and the beep; null: no beep at all.")
    beep_hz: int = Field(1400, ge=300, le=3400)
    beep_ms: int = Field(500, ge=50, le=3000)
    record_secs: float = Field(20, ge=1, le=120, description="How long it records before it hangs up.")


class SimulatedCallee(BaseModel):
    """Who answers a call placed on the local provider: a person saying ``lines`` (the first as
    they pick up), or an answering machine; ``answer_after_ms`` of ringing first."""

    model_config = ConfigDict(extra="forbid")
    lines: list[str | CalleeLine] = Field(default_factory=list)
    machine: AnsweringMachine | None = None
    answer_after_ms: int = Field(300, ge=0, le=60000)
    outcome: Literal["answer", "busy", "no-answer", "failed"] = "answer"

    @model_validator(mode="after")
    def _one(self) -> "SimulatedCallee":
        if self.machine is not None and self.lines:
            raise ValueError("a callee is a person (lines) or an answering machine (machine), not both")
        return self


class OutboundCallRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    agent: str = Field(description="The agent's name or address.")
    to: E164 = Field(description="Who to call, E.164 (+14155550199).")
    from_: E164 | None = Field(None, alias="from", description="A declared Number with outbound_calls: true; "
                               "default: the agent's own outbound Number.")
    context: dict[str, Any] = Field(default_factory=dict, description="The agent's declared context variables.")
    webhook_url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")] | None = Field(
        None, description="Send this call's webhook here instead of the agent's webhook url.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Echoed in the webhook as is.")
    dialer: Literal["local"] | None = Field(None, description="local: place it on the simulated network "
                                            "whatever the Number's provider (cb call --local).")
    callee: SimulatedCallee | None = Field(None, description="The simulated callee (local dialer only).")
    tz: str | None = Field(None, description="The callee's IANA time zone, when known better than from the number "
                           "(calling windows are judged in it).")
    consent: dict[str, Any] | None = Field(None, description="Evidence of the callee's prior express consent "
                                           "(e.g. when, how, by whom); kept with the call record.")

    @model_validator(mode="before")
    @classmethod
    def _agent_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and "agent_id" in data and "agent" not in data:
            data = {**data, "agent": data["agent_id"]}
            data.pop("agent_id")
        return data

    @property
    def agent_address(self) -> str:
        return self.agent if self.agent.startswith("agent.") else "agent." + self.agent
