"""The resource kinds of cb/v1: the one source of truth for configuration.

Every YAML document is ``apiVersion: cb/v1``, ``kind``, ``metadata`` and ``spec``. The JSON Schemas
in ``schemas/`` are generated from these models (``cb schema``); checks that need more than one
document (references, duplicate names, templates) live in ``cb.config.checks``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (BaseModel, ConfigDict, Discriminator, Field, StringConstraints, Tag, field_validator,
                      model_serializer, model_validator)

from cb.secrets import REF_PATTERN

API_VERSION = "cb/v1"

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
E164_PATTERN = r"^\+[1-9][0-9]{1,14}$"

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
E164 = Annotated[str, StringConstraints(pattern=E164_PATTERN)]
SecretRef = Annotated[
    str,
    StringConstraints(pattern=REF_PATTERN),
    Field(description="A secret, always by reference: ${env:NAME}. Never the value itself."),
]
Clock = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class Strict(BaseModel):
    """Unknown fields are errors: a typo must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Metadata(Strict):
    name: Name = Field(description="Unique per kind; the resource's address is kind.name.")
    labels: dict[str, str] = Field(default_factory=dict)
    description: str | None = None


# --------------------------------------------------------------------------- Agent


class ProviderConfig(Strict):
    provider: str = Field(description="Plugin name, e.g. whisper, deepgram, groq, piper, cartesia.")
    model: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class Additions(Strict):
    """A model that gained fields after cb/v1 shipped: while unset they are left out of its dump,
    so a resource that does not use them keeps the content, and the hash, it had before."""

    _added: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _without_unset_additions(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        for name in self._added:
            # unset is the field's default ([] or None); a [] that means something else stays
            if name in data and data[name] == type(self).model_fields[name].get_default(call_default_factory=True):
                data.pop(name, None)
        return data


class PartConfig(ProviderConfig, Additions):
    _added = ("fallback",)
    fallback: ProviderConfig | None = Field(
        None, description="Takes over mid-call when this provider fails (a 429, a 5xx, a dropped socket, "
        "a bad key): the call goes on, and its record and webhook say so.")


UNFINISHED_STOP_SECS = 1.2  # turn.unfinished_stop_secs when unset: a 700 ms pause plus the VAD's start_secs


class TurnDetection(Additions):
    _added = ("unfinished_stop_secs",)
    vad_stop_secs: float = Field(0.2, ge=0.05, le=3.0, description="Silence that ends a turn.")
    vad_start_secs: float = Field(0.2, ge=0.05, le=2.0, description="Speech that starts a turn.")
    unfinished_stop_secs: float | None = Field(
        None, ge=0.0, le=5.0, description="Silence that ends a turn whose words so far stop mid-sentence "
        "(on 'to', 'for', 'the', 'and', 'um', a comma...), so a caller pausing to think is not answered in "
        f"the pause. Default {UNFINISHED_STOP_SECS}; at or below vad_stop_secs it changes nothing.")
    smart_turn: bool = Field(False, description="Use pipecat's bundled smart-turn v3 model on top of VAD silence "
                             "to judge whether the caller finished (off by default: see the cut-off section of "
                             "bench/README.md).")
    preemptive_generation: bool = Field(
        True, description="Start the LLM on the speech-to-text's final transcript while the VAD still "
        "waits for silence; the answer is held until the turn ends and dropped if the caller goes on.")

    @property
    def unfinished_stop(self) -> float:
        return UNFINISHED_STOP_SECS if self.unfinished_stop_secs is None else self.unfinished_stop_secs


# What callers say to mean "go on" (interruptions.backchannels when unset). Spelling and case do not
# matter ("mm-hmm", "Mm hm."); a run of them ("yeah, okay") is one backchannel.
BACKCHANNELS = ("mm-hm", "mhm", "hm", "mm", "uh-huh", "um-hum", "yeah", "yep", "yes", "yup", "okay", "ok",
                "right", "alright", "all right", "sure", "i see", "got it", "gotcha", "uh", "ah", "oh",
                "oh okay", "that's right", "exactly", "cool", "great", "good", "nice")


class Interruptions(Additions):
    _added = ("backchannels",)
    enabled: bool = True
    min_words: int = Field(0, ge=0, description="Words the caller must say before it counts.")
    min_speech_ms: int = Field(200, ge=0, description="Speech the caller must make before it counts.")
    backchannels: list[Annotated[str, StringConstraints(min_length=1, max_length=40)]] | None = Field(
        None, max_length=200,
        description="Acknowledgements that never interrupt the agent: said over it, they pause it for a "
        "moment and it goes on where it paused, and the LLM never gets a turn for them. Unset: "
        f"{', '.join(BACKCHANNELS)}. [] makes every word interrupt.")

    @property
    def backchannel_phrases(self) -> tuple[str, ...]:
        return BACKCHANNELS if self.backchannels is None else tuple(self.backchannels)


class Pipeline(Additions):
    _added = ("vocabulary",)
    profile: str | None = Field(
        None, description="A named preset (local, cloud); defaults to the project's profile."
    )
    stt: PartConfig | None = None
    llm: PartConfig | None = None
    tts: PartConfig | None = None
    vocabulary: list[Annotated[str, StringConstraints(min_length=1, max_length=60)]] = Field(
        default_factory=list, max_length=100,
        description="Names and terms callers say that speech recognition should expect (products, people, "
        "places). Sent to the STT as hints (Whisper's prompt, Deepgram's keyterms) with the short strings of "
        "the agent's context, e.g. business_name.")
    turn: TurnDetection = Field(default_factory=TurnDetection)
    interruptions: Interruptions = Field(default_factory=Interruptions)


class InlineReturns(Strict):
    schema_: dict[str, Any] = Field(alias="schema", description="A JSON Schema (draft 2020-12).")


Returns = Annotated[
    Annotated[Name, Tag("ref")] | Annotated[InlineReturns, Tag("inline")],
    Discriminator(lambda v: "ref" if isinstance(v, str) else "inline"),
]


class Phone(Strict):
    voicemail: Literal["hangup", "leave_message", "ignore"] = "hangup"
    voicemail_message: str | None = None
    max_duration_sec: int = Field(900, ge=10, le=14400)
    silence_timeout_sec: int = Field(20, ge=3, le=600)


WebhookEvent = Literal["call.started", "call.completed", "call.failed", "returns.ready"]


class Webhook(Strict):
    url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$")]
    secret: SecretRef | None = None
    events: list[WebhookEvent] = Field(default_factory=lambda: ["call.completed"])


class ContextVariable(Strict):
    type: Literal["string", "number", "integer", "boolean", "object", "array"] = "string"
    default: Any = None
    required: bool = False
    description: str | None = None


class AgentSpec(Strict):
    instructions: str = Field(description="System prompt, a Jinja2 template over the context.")
    greeting: str | None = Field(None, description="First words, a Jinja2 template.")
    voice: str | None = Field(None, description="Voice name; cb.lock resolves it to an id.")
    language: str = "en-US"
    pipeline: Pipeline = Field(default_factory=Pipeline)
    tools: list[Name] = Field(default_factory=list, description="Tool names, or built-ins.")
    returns: Returns | None = Field(
        None, description="A ReturnSchema's name, or {schema: ...} inline."
    )
    compliance: list[Name] = Field(default_factory=list, description="CompliancePolicy names.")
    phone: Phone = Field(default_factory=Phone)
    webhook: Webhook | None = None
    context: dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], ContextVariable] = Field(
        default_factory=dict, description="Variables the templates may use, with types and defaults."
    )


# --------------------------------------------------------------------------- Tool

BUILTIN_TOOLS = ("end_call", "transfer_call", "do_not_call")


class HttpRun(Strict):
    url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$")]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_ms: int = Field(5000, ge=50, le=120000)
    retries: int = Field(0, ge=0, le=5)


class BuiltinRun(Strict):
    name: Literal["end_call", "transfer_call", "do_not_call"]
    options: dict[str, Any] = Field(default_factory=dict)


class Filler(Strict):
    phrase: str
    delay_ms: int = Field(1000, ge=0, le=30000)


#: "exactly one of http/builtin" for editors: the model's validator says it to cb, this says it to JSON Schema.
_ONE_WAY_TO_RUN = {"oneOf": [
    {"required": ["http"], "properties": {"http": {"type": "object"}}},
    {"required": ["builtin"], "properties": {"builtin": {"type": "object"}}},
]}


class ToolSpec(Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_ONE_WAY_TO_RUN)

    description: str
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="JSON Schema (draft 2020-12) of the arguments.",
    )
    http: HttpRun | None = None
    builtin: BuiltinRun | None = None
    filler: Filler | None = None
    failure_phrase: str = "Sorry, I couldn't do that just now."

    @model_validator(mode="after")
    def _one_way_to_run(self) -> "ToolSpec":
        if (self.http is None) == (self.builtin is None):
            raise ValueError("a tool runs exactly one way: set either `http` or `builtin`")
        return self


# --------------------------------------------------------------------------- Number


class Lifecycle(Strict):
    prevent_destroy: bool = False


class NumberSpec(Strict):
    number: E164 = Field(description="E.164, e.g. +14155550100.")
    provider: Literal["twilio", "local", "sip"] = "local"
    agent: Name | None = Field(None, description="The Agent that answers calls to this number.")
    outbound_calls: bool = Field(
        False, description="Agents may place outbound calls from this number; the callee sees it as the caller ID.")
    purchase: bool = Field(False, description="Buy the number if the provider does not hold it.")
    lifecycle: Lifecycle = Field(default_factory=Lifecycle)
    options: dict[str, Any] = Field(default_factory=dict)


# --------------------------------------------------------------------------- CompliancePolicy


class _AddedFields(Strict):
    """Fields added to a cb/v1 model after it shipped are left out of its dump while unset, so a
    document that does not use them keeps the content, and the hash, it had before."""

    _added: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _without_unset_added(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        for name in self._added:
            if data.get(name) in (None, [], {}):
                data.pop(name, None)
        return data


class CallingWindow(Strict):
    days: list[Weekday] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    start: Clock = "09:00"
    end: Clock = "20:00"

    @model_validator(mode="after")
    def _not_empty(self) -> "CallingWindow":
        if not self.days:
            raise ValueError("a calling window needs at least one day")
        if self.end <= self.start:
            raise ValueError(f"this window is empty: it ends ({self.end}) before it starts ({self.start})")
        return self


class DoNotCallSource(_AddedFields):
    _added = ("refresh_minutes",)
    type: Literal["file", "url", "numbers"]
    path: str | None = None
    url: str | None = Field(None, description="https (or http to loopback) serving E.164 numbers, one a line: "
                            "fetched by the runner on apply and every refresh_minutes, the last good list kept.")
    refresh_minutes: int | None = Field(None, ge=1, le=7 * 24 * 60,
                                        description="How often the runner fetches a url source again (default 60).")
    numbers: list[E164] = Field(default_factory=list)

    @model_validator(mode="after")
    def _source_matches_type(self) -> "DoNotCallSource":
        need = {"file": self.path, "url": self.url, "numbers": self.numbers}[self.type]
        if not need:
            field = {"file": "path", "url": "url", "numbers": "numbers"}[self.type]
            raise ValueError(f"a do-not-call source of type {self.type!r} needs `{field}`")
        if self.url and not self.url.startswith(("https://", "http://")):
            raise ValueError("a do-not-call url is https:// (or http:// to the runner's loopback)")
        if self.numbers and self.type != "numbers" and not (self.type == "file" and self._applied):
            raise ValueError(f"`numbers` belongs to a source of type 'numbers'; a {self.type!r} source's numbers come "
                             f"from its {'file' if self.type == 'file' else 'url'}")
        return self

    _applied: ClassVar[bool] = False


class RecordingConsent(Strict):
    """The disclosure is spoken first on every call of the agent; where consent is required the
    recording holds its audio until the disclosure has played, and stays off without one."""

    required: bool = Field(True, description="Record only after the disclosure has played (or not at all).")
    disclosure: str | None = Field(None, description="Said before the greeting on every call of the agent.")
    all_party_states: list[Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]] = Field(
        default_factory=list, description="All-party-consent states (two letters): there the rule applies even "
        "with required: false, and to a callee whose state is unknown.")


class Attempts(_AddedFields):
    """Calls to one number: at most ``max_per_number`` in the rolling ``window_hours`` (e.g. 168 for a
    week), and, when set, at most ``max_per_day`` on one calendar day of the callee's local time."""

    _added = ("max_per_day",)
    max_per_number: int = Field(3, ge=1, le=100)
    window_hours: int = Field(24, ge=1, le=24 * 90)
    max_per_day: int | None = Field(None, ge=1, le=100, description="Calls to the number on one local calendar "
                                    "day of the callee (every candidate zone's day), on top of the rolling limit.")


class Pacing(_AddedFields):
    _added = ("max_calls_per_second",)
    max_calls_per_minute: int = Field(30, ge=1, le=10000)
    max_concurrent: int = Field(10, ge=1, le=10000)
    max_calls_per_second: int | None = Field(None, ge=1, le=1000,
                                             description="Calls started under the policy in any one second.")


StateCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
IsoDate = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-[01][0-9]-[0-3][0-9]$")]


class StateRules(Strict):
    """Rules for callees in one state (from the number's area code), on top of the policy's own:
    a call must fit the policy's windows and these, and count under both attempt limits."""

    calling_windows: list[CallingWindow] = Field(default_factory=list)
    holidays: list[IsoDate] = Field(default_factory=list, description="Extra dates (callee's local) with no calls.")
    attempts: Attempts | None = None


class ConsentToCall(Strict):
    required: bool = Field(True, description="Refuse a call whose contact carries no consent evidence "
                           "(when, how, by whom): the FCC treats AI voices as artificial voices (TCPA).")


class CompliancePolicySpec(_AddedFields):
    _added = ("holidays", "unknown_time_zone", "states", "consent", "attestation_message")
    calling_windows: list[CallingWindow] = Field(
        default_factory=list, description="When calls may be placed, in the callee's time zone."
    )
    holidays: list[IsoDate] = Field(default_factory=list,
                                    description="Dates (the callee's local date) on which no call is placed.")
    unknown_time_zone: Literal["refuse", "strictest"] | None = Field(
        None, description="A number whose time zone is unknown (no explicit tz, no zone from the number): "
        "refuse it (the default), or allow only hours open in every US time zone.")
    states: dict[StateCode, StateRules] = Field(default_factory=dict,
                                                description="Stricter rules by the callee's state (two letters).")
    do_not_call: list[DoNotCallSource] = Field(default_factory=list)
    recording_consent: RecordingConsent | None = None
    consent: ConsentToCall | None = None
    attempts: Attempts | None = None
    pacing: Pacing | None = None
    attestation: Literal["A", "B", "C"] | None = Field(
        None, description="Minimum STIR/SHAKEN attestation (Twilio's StirVerstat) an inbound call needs for the "
        "agent to answer it; below it, or none, the caller hears attestation_message and the call ends."
    )
    attestation_message: str | None = Field(
        None, description="Said (then hang up) to an inbound caller below the attestation minimum.")


# --------------------------------------------------------------------------- ReturnSchema


class ReturnSchemaSpec(Strict):
    schema_: dict[str, Any] = Field(alias="schema", description="A JSON Schema (draft 2020-12).")


# --------------------------------------------------------------------------- documents


class _Document(Strict):
    apiVersion: Literal["cb/v1"]
    metadata: Metadata


class Agent(_Document):
    kind: Literal["Agent"]
    spec: AgentSpec


class Tool(_Document):
    kind: Literal["Tool"]
    spec: ToolSpec


class Number(_Document):
    kind: Literal["Number"]
    spec: NumberSpec


class CompliancePolicy(_Document):
    kind: Literal["CompliancePolicy"]
    spec: CompliancePolicySpec


class ReturnSchema(_Document):
    kind: Literal["ReturnSchema"]
    spec: ReturnSchemaSpec


#: Fields that were renamed: old key -> new key. cb validate names the new one (CB101).
RENAMED = {"outbound_caller_id": "outbound_calls"}

KINDS: dict[str, type[_Document]] = {
    "Agent": Agent,
    "Tool": Tool,
    "Number": Number,
    "CompliancePolicy": CompliancePolicy,
    "ReturnSchema": ReturnSchema,
}

#: kind -> the first half of an address (``agent.front-desk``).
ADDRESS_PREFIX = {
    "Agent": "agent",
    "Tool": "tool",
    "Number": "number",
    "CompliancePolicy": "compliance_policy",
    "ReturnSchema": "return_schema",
}


# --------------------------------------------------------------------------- project file


class RunnerSettings(Strict):
    url: str = Field("http://127.0.0.1:8765", description="Admin API of the runner.")


class ProjectDefaults(Strict):
    profile: str = Field("local", description="Pipeline profile for agents that name none: a registered profile "
                         "(local, scripted, cloud); cb validate checks the name against the registry.")


ADDRESS_PATTERN = r"^(agent|tool|number|compliance_policy|return_schema)\.[a-z0-9][a-z0-9_-]{0,62}$"
Address = Annotated[str, StringConstraints(pattern=ADDRESS_PATTERN)]


class Moved(Strict):
    from_: Address = Field(alias="from", description="Old address, e.g. agent.reception.")
    to: Address = Field(description="New address, e.g. agent.front-desk; must be declared in the project.")

    @model_validator(mode="after")
    def _same_kind(self) -> "Moved":
        if self.from_.split(".")[0] != self.to.split(".")[0]:
            raise ValueError(f"a move keeps the kind: {self.from_} cannot become {self.to}")
        return self


class ToolPolicy(Strict):
    env: list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*\*?$")]] = Field(
        default_factory=list, description="The ${env:NAME} variables HTTP tools may send, by name or by prefix "
        "ending in * (BOOKING_*). The runner's own credentials (CB_*, TWILIO_*, provider API keys) never.")
    allow_networks: list[str] = Field(
        default_factory=list, description="Private, loopback or link-local networks tool URLs may reach, as "
        "CIDRs (127.0.0.0/8 for local development). Off: tools reach public addresses only.")

    @field_validator("allow_networks")
    @classmethod
    def _cidrs(cls, networks: list[str]) -> list[str]:
        import ipaddress

        for network in networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not a network: write a CIDR such as 127.0.0.0/8") from None
        return networks


#: A price's unit -> the part of a call it prices (cb.pricing) and how many of the unit make one of cb's.
PRICE_UNITS: dict[str, tuple[str, float]] = {
    "minute": ("telephony", 1.0),  # a connected minute; Twilio bills per started minute
    "audio_minute": ("stt", 1 / 60), "audio_second": ("stt", 1.0),
    "million_input_tokens": ("llm_in", 1e-6), "million_output_tokens": ("llm_out", 1e-6),
    "character": ("tts", 1.0), "million_characters": ("tts", 1e-6),
}


class PriceOverride(Strict):
    """One price of ``cb.yaml``'s ``prices:``: it replaces cb's default for that provider, model and
    unit on every call of the project's agents (cb.pricing; applied with each agent)."""

    provider: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")] = Field(
        description="The provider that does the work: a pipeline provider (stt, llm, tts) or a number's provider (minute).")
    model: str | None = Field(None, description="The model it serves (a minute's: inbound or outbound); none: any.")
    unit: Literal["minute", "audio_minute", "audio_second", "million_input_tokens", "million_output_tokens",
                  "character", "million_characters"] = Field(
        description="What the amount buys: a call minute, audio seconds or minutes sent to STT, a million LLM "
        "tokens in or out, TTS characters.")
    usd: float = Field(ge=0, description="US dollars per unit.")
    as_of: date = Field(description="When the price was read (YYYY-MM-DD).")
    source: Annotated[str, StringConstraints(min_length=1)] = Field(
        description="Where the price was read: the pricing page's URL, or the contract.")


class ProjectFile(Strict):
    """``cb.yaml``: project-wide settings, found by walking up from the config paths."""

    apiVersion: Literal["cb/v1"]
    kind: Literal["Project"]
    name: Name
    paths: list[str] = Field(default_factory=lambda: ["agents"],
                             description="Folders or files of config, relative to this file.")
    allow_outside_paths: bool = Field(
        False, description="Let `paths`, and symlinks in them, reach outside the folder of cb.yaml (e.g. a "
        "shared fleet checked out beside the project). Off: config stays inside the project.")
    defaults: ProjectDefaults = Field(default_factory=ProjectDefaults)
    runner: RunnerSettings = Field(default_factory=RunnerSettings)
    moved: list[Moved] = Field(default_factory=list, description="Renames: plan moves, not replaces.")
    tools: ToolPolicy = Field(default_factory=ToolPolicy, description="What HTTP tools may send and reach.")
    scenarios: list[str] = Field(default_factory=lambda: ["scenarios"],
                                 description="Folders of Scenario files (cb test), relative to this file; never applied.")
    prices: list[PriceOverride] = Field(
        default_factory=list, description="Prices that replace cb's defaults (cb.pricing) in each call's cost; "
        "applied with every agent, so cb plan shows a change of them.")


# --------------------------------------------------------------------------- as applied


class AppliedTool(Tool):
    """A Tool as the runner holds it: the document plus ``policy``, cb.yaml's ``tools:`` when the
    project was planned. The policy travels with every HTTP tool it governs, so changing it is a
    change of those tools that a plan shows, apply re-checks and a call pins with the tool; the
    strict default travels as no ``policy`` at all (a tool's content, and hash, as before)."""

    policy: ToolPolicy | None = None

    @model_serializer(mode="wrap")
    def _without_absent_policy(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        if data.get("policy") is None:
            data.pop("policy", None)
        return data


class AppliedAgent(Agent):
    """An Agent as the runner holds it: the document plus ``prices``, cb.yaml's ``prices:`` when the
    project was planned, so a call is priced by what was applied with the agent that answered (never
    a cb.yaml beside the runner) and a change of them is a change of the agents that plan shows; no
    overrides travel as no ``prices`` at all (an agent's content, and hash, as before)."""

    prices: list[PriceOverride] | None = None

    @model_serializer(mode="wrap")
    def _without_absent_prices(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        if not data.get("prices"):
            data.pop("prices", None)
        return data


class AppliedDoNotCallSource(DoNotCallSource):
    """A do-not-call source as the runner holds it: a ``file`` source carries the numbers read from
    its file when the project was planned and the file's ``sha256``, so the list that runs is the
    list reviewed in git and a runner never reads its own disk for it."""

    _added = ("refresh_minutes", "sha256")
    _applied: ClassVar[bool] = True
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = Field(
        None, description="A file source's: sha256 of the file its numbers were read from.")


class AppliedCompliancePolicySpec(CompliancePolicySpec):
    do_not_call: list[AppliedDoNotCallSource] = Field(default_factory=list)


class AppliedCompliancePolicy(CompliancePolicy):
    """A CompliancePolicy as the runner holds it: each do-not-call ``file`` source with its numbers
    and the file's sha256 (cb.config.dnc_files.applied), so a change of the file is a change of the
    policy that a plan shows; a policy without file sources keeps its content, and hash, as before."""

    spec: AppliedCompliancePolicySpec


#: The kinds a change set may carry: the documents, each as applied.
APPLIED_KINDS: dict[str, type[_Document]] = {**KINDS, "Tool": AppliedTool, "Agent": AppliedAgent,
                                             "CompliancePolicy": AppliedCompliancePolicy}
