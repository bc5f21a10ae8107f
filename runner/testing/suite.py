"""Run many scenarios, each ``repeat`` times, against the project and, for a baseline, against
what the runner holds live; one event loop, one LLM client per distinct LLM, sequential runs."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from cb.config.scenarios import LoadedScenario
from cb.testing.outcome import ScenarioResult

from ..postcall.after_hangup import agent_llm
from .fleet import Fleet
from .textcall import run_scenario

Contents = Callable[[list[str]], dict[str, Any]]  # addresses -> live contents (cb.client's contents)


def run_suite(scenarios: list[LoadedScenario], project: Any, *, repeat: int = 1, use_scenario_llm: bool = True,
              live: Contents | None = None, audio: Any = None) -> list[ScenarioResult]:
    """``audio`` (a caller factory, audiocall.CallerFactory): each run is a real call through a
    runner (audiocall); else a text call (textcall)."""
    if audio is not None:
        from functools import partial

        from .audiocall import run_audio

        return asyncio.run(_suite(scenarios, project, repeat, use_scenario_llm, live, partial(run_audio, caller=audio)))
    return asyncio.run(_suite(scenarios, project, repeat, use_scenario_llm, live, run_scenario))


async def _suite(scenarios: list[LoadedScenario], project: Any, repeat: int, use_scenario_llm: bool,
                 live: Contents | None, run_scenario: Any) -> list[ScenarioResult]:
    profile = project.settings.defaults.profile
    llm_for = agent_llm(profile)
    after = Fleet.from_project(project)
    results = []
    for s in scenarios:
        result = ScenarioResult(s.name, s.file, s.spec.agent)
        for _ in range(repeat):
            result.runs.append(await run_scenario(s, after, default_profile=profile,
                                                  use_scenario_llm=use_scenario_llm, llm_for=llm_for))
        if live is not None:
            agent = after.agents.get(s.spec.agent)
            contents = live(Fleet.addresses(s.spec.agent, agent)) if agent is not None else {}
            if not contents.get(f"agent.{s.spec.agent}"):
                result.baseline_note = "not live yet"
            else:
                before = Fleet.from_contents(contents)
                result.baseline = [await run_scenario(s, before, default_profile=profile,
                                                      use_scenario_llm=use_scenario_llm, llm_for=llm_for)
                                   for _ in range(repeat)]
        results.append(result)
    return results
