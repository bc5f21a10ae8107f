"""Run scenarios as simulated calls in text mode: the agent's rendered prompt, its tools as the
runner declares and executes them, the agent's LLM through the provider registry, tool endpoints
stubbed on 127.0.0.1, and returns extracted by the runner's own post-call code."""

from .fleet import Fleet
from .suite import run_suite
from .textcall import run_scenario

__all__ = ["Fleet", "run_scenario", "run_suite"]
