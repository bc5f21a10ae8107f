"""The resources a scenario runs against, typed: from the project (after the change) or from the
runner's live revisions (before it, ``cb test --baseline live``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from cb.config.models import AgentSpec, ToolSpec


@dataclass
class Fleet:
    agents: dict[str, AgentSpec] = field(default_factory=dict)
    tools: dict[str, ToolSpec] = field(default_factory=dict)
    return_schemas: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_project(cls, project: Any) -> "Fleet":
        return cls({r.name: r.spec for r in project.of_kind("Agent")},
                   {r.name: r.spec for r in project.of_kind("Tool")},
                   {r.name: r.spec.schema_ for r in project.of_kind("ReturnSchema")})

    @classmethod
    def from_contents(cls, contents: Mapping[str, Any]) -> "Fleet":
        """``address -> content`` as the admin API's ``/v1/state/contents`` answers."""
        fleet = cls()
        for address, content in contents.items():
            if not content:
                continue
            kind, name = address.split(".", 1)
            spec = content["spec"]
            if kind == "agent":
                fleet.agents[name] = AgentSpec.model_validate(spec)
            elif kind == "tool":
                fleet.tools[name] = ToolSpec.model_validate(spec)
            elif kind == "return_schema":
                fleet.return_schemas[name] = spec["schema"]
        return fleet

    def returns_schema(self, agent: AgentSpec) -> dict[str, Any] | None:
        returns = agent.returns
        if returns is None:
            return None
        return self.return_schemas.get(returns) if isinstance(returns, str) else returns.schema_

    @staticmethod
    def addresses(agent: str, spec: AgentSpec) -> list[str]:
        """What to read from the runner to run ``agent`` as it is live."""
        out = [f"agent.{agent}", *(f"tool.{t}" for t in spec.tools)]
        if isinstance(spec.returns, str):
            out.append(f"return_schema.{spec.returns}")
        return out
