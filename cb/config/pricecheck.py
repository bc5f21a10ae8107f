"""Checks of ``cb.yaml``'s ``prices:`` that need more than the schema: each price must be one a
call can use, or it would be accepted and ignored.

- the provider does that kind of work: a pipeline provider registered for the unit's part (stt,
  llm, tts), or a number provider for ``minute``;
- the model is one the provider serves (the catalogue's names, where cb keeps one), and a
  minute's model is the call's direction (inbound, outbound);
- no two entries price the same part of the same provider and model: the second would never be used.

Each problem is named at its line in cb.yaml with a fix.
"""

from __future__ import annotations

from typing import Callable

from .diagnostics import Diagnostic
from .fielderrors import did_you_mean
from .models import PRICE_UNITS, PriceOverride

DIRECTIONS = ("inbound", "outbound")


def _telephony_providers() -> set[str]:
    from importlib.metadata import entry_points

    return {ep.name for group in ("cb.number_providers", "cb.call_transports") for ep in entry_points(group=group)}


def check(prices: list[PriceOverride], file: str, mark: Callable[[tuple], tuple[int, int]]) -> list[Diagnostic]:
    from .catalogue import MODELS, _providers

    kinds, _ = _providers()
    out: list[Diagnostic] = []
    seen: dict[tuple[str, str, str | None], int] = {}

    def diag(i: int, field: str, code: str, message: str, hint: str) -> None:
        line, col = mark(("prices", i, field))
        out.append(Diagnostic(file, line, col, code, "project", f"prices.{i}.{field}: {message}", hint))

    for i, p in enumerate(prices):
        kind = PRICE_UNITS[p.unit][0]
        part = "llm" if kind.startswith("llm") else kind
        known = _telephony_providers() if part == "telephony" else kinds.get(part, set())
        if p.provider not in known:
            guess = did_you_mean(p.provider, known)
            diag(i, "provider", "CB303", f"no {part} provider named {p.provider!r}, so no call would use this price",
                 (f"did you mean '{guess}'? " if guess else "") + f"{part} providers: {', '.join(sorted(known)) or 'none'}"
                 + ("" if part == "telephony" else "; or change the unit"))
            continue
        if p.model is not None:
            served = DIRECTIONS if part == "telephony" else MODELS.get(p.provider)
            if served is not None and p.model not in served:
                guess = did_you_mean(p.model, set(served))
                diag(i, "model", "CB305", f"{p.provider} has no model {p.model!r} for a {p.unit} price",
                     (f"did you mean '{guess}'? " if guess else "") + f"models: {', '.join(served)}; or leave model out for any")
                continue
        key = (kind, p.provider, p.model)
        if key in seen:
            diag(i, "unit", "CB302", f"prices {p.provider}" + (f"/{p.model}" if p.model else "") + f" {part} again "
                 f"(prices.{seen[key]} already does), and only the first is used", "keep one entry")
        else:
            seen[key] = i
    return out
