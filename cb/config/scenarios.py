"""Scenarios: how an agent must behave on a call, written beside the agents and run by ``cb test``.

A scenario is a ``kind: Scenario`` document (same envelope, loader, line marks, diagnostics and
editor schema as every other cb/v1 file) kept in the project's scenario folders (cb.yaml
``scenarios:``, default ``scenarios/``), never in its config ``paths``: a scenario is reviewed and
run, never applied, so the planner, the lock and the runner never see one.

It names the agent, the call's context, what the caller says, the tool responses the test serves
on 127.0.0.1 in place of the real endpoints, optionally the LLM to use instead of the agent's (the
scripted LLM, for deterministic CI), and at least one assertion. ``load_scenarios`` reads them and
checks them against the project: an unknown agent, tool or context key and an assertion schema that
is not JSON Schema are diagnostics with file:line, like any config error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any, Iterator, Literal

import jsonschema
from jsonschema.exceptions import SchemaError
from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from .diagnostics import Diagnostic
from .fielderrors import convert, did_you_mean
from .models import API_VERSION, BUILTIN_TOOLS, Metadata, Name, ProviderConfig, Strict
from .project import read_documents
from .yamlsafe import Document

KIND = "Scenario"


class Caller(Strict):
    """Scripted ``lines``, or a ``persona`` with a ``goal`` played by an LLM that writes each line."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True,
                              json_schema_extra={"oneOf": [{"required": ["lines"]}, {"required": ["persona", "goal"]}]})

    lines: list[str] | None = Field(None, min_length=1, description="What the caller says, one entry per turn, in order.")
    persona: str | None = Field(None, description="Who the caller is, for an LLM that plays them (instead of lines).")
    goal: str | None = Field(None, description="What the persona wants from the call; it hangs up once reached.")
    max_turns: int = Field(6, ge=1, le=50, description="The persona says at most this many lines.")
    llm: ProviderConfig | None = Field(
        None, description="The LLM that plays the persona (default: the agent's own LLM, never the scenario's `llm`). "
        "It may call a `hang_up` tool to end the call.")

    @model_validator(mode="after")
    def _one_way(self) -> "Caller":
        if (self.lines is None) == (self.persona is None):
            raise ValueError("the caller has either lines or a persona (with a goal), not both and not neither")
        if self.persona is not None and not self.goal:
            raise ValueError("a persona needs a goal: what the caller wants from the call")
        if self.lines is not None and (self.goal or self.llm):
            raise ValueError("goal and llm belong to a persona; scripted lines need neither")
        return self


class Judge(Strict):
    rubric: str = Field(min_length=1, description="What a good call does, in words; an LLM judges the transcript "
                        "against it and gives a verdict and its reasoning.")
    llm: ProviderConfig | None = Field(
        None, description="The judging LLM (default: the agent's own LLM, never the scenario's `llm`), reached "
        "through the provider registry's OpenAI-compatible client. If it fails the assertion fails.")


class Latency(Strict):
    max_ms: int = Field(ge=1, description="Every agent turn's latency (the call record's total_ms: the caller's "
                        "last speech to the agent's first audio) is at most this.")


class StubResponse(Strict):
    status: int = Field(200, ge=100, le=599, description="HTTP status the stub answers with.")
    body: Any = Field(default_factory=dict, description="JSON body the stub answers with.")
    delay_ms: int = Field(0, ge=0, le=120000, description="Wait this long first (past the tool's timeout_ms: a timeout).")


class ToolStub(Strict):
    responses: list[StubResponse] = Field(
        min_length=1, description="One per call, in order; the last one answers every later call.")


class ToolCalled(Strict):
    name: Name
    arguments: dict[str, Any] | None = Field(None, description="Values the arguments must include (a subset).")
    arguments_schema: dict[str, Any] | None = Field(None, description="A JSON Schema the arguments must match.")
    ok: bool | None = Field(None, description="The call succeeded (true) or failed (false).")


class ReturnsCheck(Strict):
    equals: dict[str, Any] | None = Field(None, description="The returns are exactly this object.")
    includes: dict[str, Any] | None = Field(None, description="The returns hold these values (a subset).")
    schema_: dict[str, Any] | None = Field(None, alias="schema", description="A JSON Schema the returns match.")

    @model_validator(mode="after")
    def _something(self) -> "ReturnsCheck":
        if self.equals is None and self.includes is None and self.schema_ is None:
            raise ValueError("returns needs equals, includes or schema")
        return self


#: Assertion keys: exactly one per entry of ``expect``.
ASSERTIONS = ("tool_called", "tool_not_called", "returns", "says", "never_says", "ended_call", "max_turns",
              "latency", "judge")
#: Assertions only ``cb test --audio`` can judge: text mode refuses them rather than skip them.
AUDIO_ONLY = ("latency",)


class Assertion(Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True,
                              json_schema_extra={"minProperties": 1, "maxProperties": 1})

    tool_called: ToolCalled | None = Field(None, description="The agent called this tool (with these arguments).")
    tool_not_called: Name | None = Field(None, description="The agent never called this tool.")
    returns: ReturnsCheck | None = Field(None, description="The structured returns extracted after the call.")
    says: str | None = Field(None, description="The agent said this (case-insensitive) at some point.")
    never_says: str | None = Field(None, description="The agent never said this (case-insensitive).")
    ended_call: bool | None = Field(None, description="The agent ended the call itself (end_call), or did not.")
    max_turns: int | None = Field(None, ge=1, description="The call took at most this many caller turns.")
    latency: Latency | None = Field(None, description="Per-turn latency under a budget (cb test --audio only).")
    judge: Judge | None = Field(None, description="A rubric judged by an LLM; its verdict and reasoning are reported.")

    @model_validator(mode="after")
    def _exactly_one(self) -> "Assertion":
        given = [k for k in ASSERTIONS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"each expect entry holds exactly one of {', '.join(ASSERTIONS)}"
                             + (f" (this one holds {', '.join(given)})" if given else ""))
        return self

    @property
    def key(self) -> str:
        return next(k for k in ASSERTIONS if getattr(self, k) is not None)


class ScenarioSpec(Strict):
    agent: Name = Field(description="The Agent under test.")
    context: dict[str, Any] = Field(default_factory=dict, description="Values for the agent's declared context.")
    caller: Caller
    llm: ProviderConfig | None = Field(
        None, description="The LLM for this scenario instead of the agent's, e.g. the scripted LLM for "
        "deterministic CI (options.script is relative to this file). `cb test --llm agent` ignores it.")
    tools: dict[Name, ToolStub] = Field(
        default_factory=dict, description="Responses served in place of each HTTP tool's endpoint. A tool "
        "without one answers HTTP 501: a test never reaches a real endpoint.")
    expect: list[Assertion] = Field(description="At least one assertion: a scenario that asserts nothing "
                                    "is an error, not a pass.", json_schema_extra={"minItems": 1})

    @field_validator("expect")
    @classmethod
    def _asserts_something(cls, value: list[Assertion]) -> list[Assertion]:
        if not value:
            raise ValueError("a scenario needs at least one assertion: one that asserts nothing would pass "
                             "without testing anything")
        return value


class Scenario(Strict):
    apiVersion: Literal["cb/v1"]
    kind: Literal["Scenario"]
    metadata: Metadata
    spec: ScenarioSpec


@dataclass(frozen=True)
class LoadedScenario:
    """A valid scenario and where it came from (``file`` as shown, ``path`` to resolve scripts)."""

    model: Scenario | None  # None: schema-invalid, checked for names but never run
    file: str
    path: FsPath
    line: int
    doc: Document = field(repr=False, compare=False)

    @property
    def name(self) -> str:
        meta = self.doc.data.get("metadata") if isinstance(self.doc.data, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        return name if isinstance(name, str) else f"(unnamed, line {self.line})"

    @property
    def address(self) -> str:
        return f"scenario.{self.name}"

    @property
    def spec(self) -> ScenarioSpec:
        assert self.model is not None, "a schema-invalid scenario is never run"
        return self.model.spec


def scenario_files(root: FsPath, folders: list[str], given: list[FsPath] | None = None) -> list[FsPath]:
    """YAML files under the project's scenario folders, or under ``given`` paths."""
    out: list[FsPath] = []
    for base in given if given is not None else [root / f for f in folders]:
        if base.is_file():
            out.append(base)
        elif base.is_dir():
            for folder, dirs, files in os.walk(base):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                out += [FsPath(folder) / f for f in sorted(files) if f.endswith((".yaml", ".yml"))]
    return out


def _shown(path: FsPath, cwd: FsPath) -> str:
    try:
        return os.path.relpath(path, cwd)
    except ValueError:  # pragma: no cover - other drive on Windows
        return str(path)


def _is_scenario_doc(data: Any) -> bool:
    return isinstance(data, dict) and data.get("kind") == KIND


def read(files: list[FsPath], cwd: FsPath, diags: list[Diagnostic]) -> list[LoadedScenario]:
    """Every Scenario document of ``files``, schema-checked; other documents are reported."""
    found: list[LoadedScenario] = []
    for path in files:
        shown = _shown(path, cwd)
        for doc in read_documents(path, shown, diags):
            if doc.data is None:
                continue
            if not _is_scenario_doc(doc.data):
                line, col = doc.mark(("kind",)) if isinstance(doc.data, dict) and "kind" in doc.data else (doc.line, 1)
                diags.append(Diagnostic(shown, line, col, "CB006", "",
                                        "a scenario folder holds only `kind: Scenario` documents",
                                        "move agents, tools and other resources to the folders under cb.yaml `paths:`"))
                continue
            name = (doc.data.get("metadata") or {}).get("name") if isinstance(doc.data.get("metadata"), dict) else None
            address = f"scenario.{name}" if isinstance(name, str) else "scenario"
            if doc.data.get("apiVersion") != API_VERSION:
                line, col = doc.mark(("apiVersion",)) if "apiVersion" in doc.data else (doc.line, 1)
                diags.append(Diagnostic(shown, line, col, "CB006", address,
                                        f"unsupported apiVersion {doc.data.get('apiVersion')!r}", f"use `apiVersion: {API_VERSION}`"))
                continue
            try:
                model = Scenario.model_validate(doc.data)
            except ValidationError as exc:
                for code, p, message, hint, at_key in convert(Scenario, doc, exc):
                    line, col = doc.mark(p, prefer_key=at_key)
                    diags.append(Diagnostic(shown, line, col, code, address, message, hint))
                model = None  # still checked for names (``check``), never run
            found.append(LoadedScenario(model, shown, path.resolve(), doc.line, doc))
    return found


def _d(s: LoadedScenario, path: tuple, code: str, message: str, hint: str = "") -> Diagnostic:
    line, col = s.doc.mark(path)
    return Diagnostic(s.file, line, col, code, s.address, message, hint)


def _unknown(s: LoadedScenario, path: tuple, what: str, name: str, choices: Any) -> Diagnostic:
    choices = sorted(set(choices))
    guess = did_you_mean(name, choices)
    hint = f"did you mean '{guess}'?" if guess else (f"{what}s: {', '.join(choices)}" if choices else f"declare the {what} first")
    return _d(s, path, "CB301", f"{'.'.join(map(str, path[1:]))}: no {what} named {name!r}", hint)


def _bad_schema(s: LoadedScenario, path: tuple, schema: Any, what: str) -> Iterator[Diagnostic]:
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "(root)"
        yield _d(s, path + tuple(exc.path), "CB201", f"{what} is not a valid JSON Schema at {where}: {exc.message}",
                 "see https://json-schema.org/draft/2020-12 for the keywords and their types")


def _get(node: Any, *path: Any, kind: type | tuple[type, ...] = object) -> Any:
    for part in path:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return None
    return node if isinstance(node, kind) else None


def check(s: LoadedScenario, project: Any) -> Iterator[Diagnostic]:
    """What the scenario names must exist in ``project`` (a cb.config.project.Project).

    Reads the raw document, so a scenario with a schema error elsewhere still gets its names
    checked: every problem at once.
    """
    spec = _get(s.doc.data, "spec", kind=dict) or {}
    agents = {r.name: r for r in project.of_kind("Agent")}
    name = _get(spec, "agent", kind=str)
    if name is None:
        return
    agent = agents.get(name)
    if agent is None:
        yield _unknown(s, ("spec", "agent"), "Agent", name, agents)
        return
    a = agent.spec
    tools = {t.name: t for t in project.of_kind("Tool")}
    for key in _get(spec, "context", kind=dict) or {}:
        if key not in a.context:
            yield _unknown(s, ("spec", "context", key), f"context variable of agent {name}", str(key), a.context)
    for tool in _get(spec, "tools", kind=dict) or {}:
        if tool not in a.tools:
            yield _unknown(s, ("spec", "tools", tool), f"tool of agent {name}", str(tool), a.tools)
        elif tool not in tools or tools[tool].spec.http is None:
            yield _d(s, ("spec", "tools", tool), "CB102", f"tools.{tool}: only HTTP tools are stubbed; {tool} is built in",
                     "remove the stub: built-ins (end_call, transfer_call) run in the test as they do on a call")
    for i, entry in enumerate(_get(spec, "expect", kind=list) or []):
        if not isinstance(entry, dict):
            continue
        for key in ("tool_called", "tool_not_called"):
            named = _get(entry, key, "name", kind=str) if key == "tool_called" else _get(entry, key, kind=str)
            at = ("spec", "expect", i, key) + (("name",) if key == "tool_called" else ())
            if named is not None and named not in a.tools:
                yield _unknown(s, at, f"tool of agent {name}", named, a.tools)
        schema = _get(entry, "tool_called", "arguments_schema")
        if schema is not None:
            yield from _bad_schema(s, ("spec", "expect", i, "tool_called", "arguments_schema"), schema, "arguments_schema")
        if "returns" in entry:
            if a.returns is None:
                yield _d(s, ("spec", "expect", i, "returns"), "CB102", f"expect.{i}.returns: agent {name} declares no returns",
                         "give the agent a return schema (spec.returns), or remove this assertion")
            schema = _get(entry, "returns", "schema")
            if schema is not None:
                yield from _bad_schema(s, ("spec", "expect", i, "returns", "schema"), schema, "returns.schema")


def load_scenarios(project: Any, paths: list[str] | None = None,
                   cwd: str | os.PathLike | None = None) -> tuple[list[LoadedScenario], list[Diagnostic]]:
    """The project's scenarios (or those under ``paths``), checked against the project."""
    here = FsPath(cwd or os.getcwd()).resolve()
    diags: list[Diagnostic] = []
    given = [here / p for p in paths] if paths else None
    for p in given or []:
        if not p.exists():
            diags.append(Diagnostic(_shown(p, here), 1, 1, "CB702", "", f"no such file or folder: {p}",
                                    "check the path, or run cb from the project's folder"))
    scenarios = read(scenario_files(project.root, project.settings.scenarios, given), here, diags)
    seen: dict[str, LoadedScenario] = {}
    for s in scenarios:
        if s.name in seen:
            diags.append(_d(s, ("metadata", "name"), "CB302", f"Scenario {s.name!r} is declared twice "
                            f"(first at {seen[s.name].file}:{seen[s.name].line})", "rename one"))
        seen.setdefault(s.name, s)
        diags += check(s, project)
    return [s for s in seen.values() if s.model is not None], sorted(set(diags))


def audio_only(s: LoadedScenario) -> Iterator[Diagnostic]:
    """Assertions text mode cannot judge, each a diagnostic: refused, never silently skipped."""
    for i, a in enumerate(s.spec.expect):
        if a.key in AUDIO_ONLY:
            yield _d(s, ("spec", "expect", i, a.key), "CB102",
                     f"expect.{i}.{a.key}: per-turn latency is measured on audio calls only; text mode cannot judge it",
                     "run `cb test --audio`, or move the assertion to a scenario you run with --audio")



def text_only(s: LoadedScenario) -> Iterator[Diagnostic]:
    """What ``cb test --audio`` cannot run yet, each a diagnostic: a caller played by an LLM."""
    if s.spec.caller.persona is not None:
        yield _d(s, ("spec", "caller", "persona"), "CB102",
                 "caller.persona: a persona plays the caller in text mode only; an audio call speaks scripted lines",
                 "run this scenario without --audio, or give the caller `lines`")
