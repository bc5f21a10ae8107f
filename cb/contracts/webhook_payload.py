"""The webhook body: what the CallingBox article promises, plus where the call came from.

Produced by the runner's post-call work (it builds one per delivery and queues its ``body()`` in
the outbox); consumed by the receivers the agents' webhooks point at, by `cb calls` / `cb webhooks`
and by tests. ``schemas/webhook-payload.json`` is generated from it.

The article's payload is ``call_id, duration_sec, status, returns, tool_calls, recording_url,
transcript_url``; cb adds the event name, the agent's address and the revision hash the call was
pinned to (so a receiver can tell which prompt produced a result) and an honest ``returns_error``
when extraction failed. Published as ``schemas/webhook-payload.json`` (``cb schema``); extra
fields may be added later, so the schema does not forbid unknown ones.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Event = Literal["call.started", "call.completed", "call.failed", "returns.ready"]


class ToolCallSummary(BaseModel):
    model_config = ConfigDict(json_schema_mode_override="serialization",
                              json_schema_serialization_defaults_required=True)

    name: str = Field(description="The tool's name, e.g. book_appointment.")
    ok: bool = Field(description="Whether the tool answered successfully.")
    status: str | None = Field(None, description="ok, invalid_arguments, timeout, http_error or error.")
    latency_ms: float | None = Field(None, description="From the LLM's request to the result.")


class CostLine(BaseModel):
    """One billed part of a call: usage times the price of the provider and model that served it."""

    kind: str = Field(description="telephony, stt, llm_in, llm_out or tts.")
    provider: str
    model: str | None = None
    quantity: float = Field(description="Units used (telephony: billed minutes).")
    unit: str = Field(description="minute, audio_second, token or character.")
    usd_per_unit: float | None = Field(None, description="Null when cb knows no price for this provider and model.")
    usd: float | None = None
    as_of: str | None = Field(None, description="When the price was read.")
    source: str | None = Field(None, description="Where the price was read, or cb.yaml.")


class CallCost(BaseModel):
    """What a call cost (``cb.pricing``), with the per-connected-minute figure beside it."""

    total_usd: float
    per_connected_minute_usd: float | None = None
    benchmark_per_minute_usd: float | None = Field(None, description="The article's all-in benchmark ($0.05/min).")
    unpriced: list[str] = Field(default_factory=list, description="Parts used that have no price: not counted.")
    usage: dict[str, Any] = Field(default_factory=dict, description="connected_sec, stt_audio_sec, llm_tokens_in, "
                                  "llm_tokens_out, llm_tokens_estimated, tts_characters.")
    lines: list[CostLine] = Field(default_factory=list)


class ComplianceDecision(BaseModel):
    """One compliance rule's judgement of an outbound call (runner/compliance; docs/compliance.md)."""

    rule: str = Field(description="do_not_call, time_zone, calling_window, consent, attempts, pacing, "
                      "recording_disclosure, request...")
    policy: str = Field(description="The CompliancePolicy that holds the rule, or - for none.")
    outcome: str = Field(description="allowed, wait or refused (recording_disclosure: played or skipped).")
    detail: str = Field(description="Why, in words: the window, the list, the count against the limit.")
    until: str | None = Field(None, description="wait: RFC 3339 time the call may be judged again.")


class WebhookPayload(BaseModel):
    """One webhook delivery's JSON body."""

    # The schema describes what is sent, where every field is always present (null when unknown),
    # so receivers can rely on `required`; validation mode would mark defaulted fields optional.
    model_config = ConfigDict(title="cb webhook payload", json_schema_mode_override="serialization",
                              json_schema_serialization_defaults_required=True)

    event: Event = Field("call.completed", description="Why this delivery was sent.")
    call_id: str = Field(description="The call's id, as in `cb calls show`.")
    agent: str = Field(description="The agent's address, e.g. agent.front-desk.")
    revision: str | None = Field(None, description="Content hash of the agent revision the call was pinned to.")
    status: str = Field(description="How the call ended: completed, failed, no-answer, busy, voicemail...")
    started_at: str | None = Field(None, description="RFC 3339 time the call was answered.")
    ended_at: str | None = Field(None, description="RFC 3339 time the call ended.")
    duration_sec: float = Field(ge=0, description="Connected time in seconds.")
    returns: dict[str, Any] | None = Field(
        None, description="The agent's return schema, filled after the call; null if extraction failed.")
    returns_error: str | None = Field(None, description="Why `returns` is null, when it is.")
    end_reason: str | None = Field(None, description="Why the call ended: caller_hangup, end_call, silence_timeout, "
                                   "max_duration, shutdown or error.")
    error: str | None = Field(None, description="When the call failed: what failed, e.g. which provider and how.")
    tool_calls: list[ToolCallSummary] = Field(default_factory=list)
    recording_url: str | None = Field(None, description="Two-channel WAV: caller left, agent right.")
    transcript_url: str | None = Field(None, description="Per-turn transcript as JSON.")
    # Added with outbound calls; every one is null when it does not apply, so older receivers
    # that ignore unknown fields keep working.
    direction: str | None = Field(None, description="inbound or outbound.")
    from_number: str | None = Field(None, description="The caller, E.164.")
    to_number: str | None = Field(None, description="The callee, E.164.")
    answered_by: str | None = Field(
        None, description="Outbound: human, machine_start, machine_end_beep, machine_end_silence, machine_end_other, "
        "fax or unknown (Twilio's AnsweredBy, or cb's own detector on the local provider).")
    voicemail: str | None = Field(
        None, description="What the agent did on an answering machine: left_message, hung_up or ignored.")
    stir_verstat: str | None = Field(
        None, description="Inbound: Twilio's STIR/SHAKEN verification of the caller ID, e.g. TN-Validation-Passed-A.")
    provider_call_id: str | None = Field(None, description="The carrier's call id (Twilio CallSid).")
    sip_response_code: int | None = Field(None, description="The final SIP response code the carrier reported.")
    sip_call_id: str | None = Field(None, description="SIP calls (provider: sip): the INVITE's Call-ID.")
    remote_party: str | None = Field(
        None, description="SIP calls: the far end as user@host:port (the caller inbound, the callee outbound).")
    codec: str | None = Field(None, description="SIP calls: the negotiated codec, PCMU or PCMA.")
    error_code: int | None = Field(None, description="The carrier's error code when the call failed, e.g. 21215.")
    error_message: str | None = Field(None, description="The carrier's error message when the call failed.")
    metadata: dict[str, Any] | None = Field(None, description="The metadata the call was created with, as given.")
    fallbacks: list[str] | None = Field(
        None, description="Each declared fallback provider that took over a part of the call, and why, e.g. "
        "\"llm: groq failed (429 ...); openai took over\".")
    cost: CallCost | None = Field(None, description="What the call cost: usage times the price table (issue 19).")
    compliance: list[ComplianceDecision] | None = Field(
        None, description="Outbound: every compliance decision on the call, allowed or not, in the order judged; "
        "a refused call (status refused) names the rule that refused it here. Null for inbound calls.")

    def body(self) -> bytes:
        """The exact bytes that are signed and sent (compact, stable key order)."""
        return self.model_dump_json().encode()
