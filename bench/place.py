"""Place benchmark calls against a Stack: one after another, or N at once with staggered starts."""

from __future__ import annotations

import asyncio
from typing import Callable

from .caller import BenchCaller, Step, Trace
from .stack import NUMBER, Stack


async def place(stack: Stack, steps: list[Step], **kwargs) -> Trace:
    return await BenchCaller(stack.url, stack.token, NUMBER, steps, **kwargs).run()


async def place_many(stack: Stack, n: int, steps_for: Callable[[int], list[Step]], *,
                     stagger_s: float = 0.0, **kwargs) -> list[Trace]:
    """``n`` calls at once; call i starts ``i * stagger_s`` after the first (a ramp, not a thundering herd)."""

    async def one(i: int) -> Trace:
        await asyncio.sleep(i * stagger_s)
        return await place(stack, steps_for(i), **kwargs)

    return list(await asyncio.gather(*(one(i) for i in range(n))))


def run(coro):
    """asyncio.run on uvloop when it is installed: the caller must not be the bottleneck."""
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)
