"""What a call cost: its measured usage times a price table per provider and model.

Usage is measured on the call (``cb.runner.calls.usage``): telephony minutes, seconds of caller
audio streamed to speech recognition, LLM tokens in and out, characters sent to speech synthesis.
Each is priced by the provider and model that did the work. The defaults below are public list
prices, pay-as-you-go, in US dollars, read on the date beside each from the page named as its
source; they move, so ``cb.yaml`` may override any of them (``prices:``, see docs/call-pages.md).
Overrides are checked (cb.config.pricecheck) and applied with each agent, so a call is priced by what
was applied with the agent that answered. Providers that run on the runner's own machine (Whisper, llama.cpp, Piper, the scripted LLM, the
local telephony) cost nothing per use. A provider with no known price is listed as unpriced, not
guessed: its line shows the usage with ``usd: null`` and the total says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

#: the article's benchmark: all-in cost per connected minute
BENCHMARK_PER_MINUTE_USD = 0.05

#: the units each kind of part is billed in
UNITS = {"telephony": "minute", "stt": "audio_second", "llm_in": "token", "llm_out": "token", "tts": "character"}


@dataclass(frozen=True)
class Price:
    kind: str  # telephony | stt | llm_in | llm_out | tts
    provider: str
    model: str | None  # None: any model of the provider
    usd: float  # per unit (UNITS[kind])
    as_of: str
    source: str


def _per_million(kind: str, provider: str, model: str | None, usd: float, as_of: str, source: str) -> Price:
    return Price(kind, provider, model, usd / 1_000_000, as_of, source)


DEFAULT_PRICES: tuple[Price, ...] = (
    # Checked on 2026-11-29 with the project's search of public pages; a figure whose vendor page
    # could not be read there says so in its source ("unverified" / "secondary").
    # Twilio Programmable Voice, US local numbers, billed per started minute: inbound $0.0085,
    # outbound $0.013 (was 0.0140 here), Twilio's own figures in its volume-pricing article; the
    # pricing page itself (twilio.com/en-us/voice/pricing/us) was not in the search index.
    Price("telephony", "twilio", "inbound", 0.0085, "2026-11-29",
          "https://support.twilio.com/hc/en-us/articles/223183328-How-Volume-Pricing-works-at-Twilio"),
    Price("telephony", "twilio", "outbound", 0.0130, "2026-11-29",
          "https://support.twilio.com/hc/en-us/articles/223183328-How-Volume-Pricing-works-at-Twilio"),
    # Deepgram Nova-3 (monolingual) streaming, pay as you go: $0.0048 per audio minute (was 0.0077,
    # which is now its pre-recorded rate). deepgram.com/pricing was not in the search index; two
    # surveys that cite it agree (hail-hq/hail costs/stt.json, verified 2026-05-05; D3velop-llc
    # open-gauntlet-leaderboard data/asr.json, 2026-08-01): secondary, not read at the vendor.
    Price("stt", "deepgram", None, 0.0048 / 60, "2026-11-29",
          "secondary: https://raw.githubusercontent.com/hail-hq/hail/main/costs/stt.json (cites deepgram.com/pricing)"),
    # Groq llama-3.3-70b-versatile: $0.59 / $0.79 per million tokens in / out. Groq's model page
    # (console.groq.com/docs/models) has a price column, but the stored copy was cut before this
    # row; several third-party tables agree: secondary, not read at the vendor.
    _per_million("llm_in", "groq", "llama-3.3-70b-versatile", 0.59, "2026-11-29",
                 "secondary: https://theneuralbase.com/groq/learn/intermediate/cost-per-user-for-voice-applications/"),
    _per_million("llm_out", "groq", "llama-3.3-70b-versatile", 0.79, "2026-11-29",
                 "secondary: https://theneuralbase.com/groq/learn/intermediate/cost-per-user-for-voice-applications/"),
    # Cartesia Sonic: ~1 credit per character (Cartesia's docs, https://docs.cartesia.ai/pricing);
    # the Scale plan's $299 a month for 8M credits (plan prices from a survey of cartesia.ai/pricing,
    # https://apio.sh/apis/cartesia, last verified 2026-06-21): $0.0000374 per character.
    Price("tts", "cartesia", None, 299 / 8_000_000, "2026-11-29",
          "https://docs.cartesia.ai/pricing (1 credit/character); Scale plan $299 for 8M credits per https://apio.sh/apis/cartesia"),
    # On the runner's own machine: no per-use price.
    *(Price(kind, provider, None, 0.0, "-", "runs on the runner's machine")
      for kind, provider in (("telephony", "local"), ("stt", "whisper"), ("stt", "scripted"), ("llm_in", "llama"), ("llm_out", "llama"),
                             ("llm_in", "scripted"), ("llm_out", "scripted"), ("tts", "piper"))),
)


def price_table(overrides: Iterable[Mapping[str, Any]] = ()) -> list[Price]:
    """The defaults with overrides in front (the first match wins): each ``{kind, provider, model,
    usd_per_unit, as_of, source}`` in cb's own units (``UNITS``)."""
    given = [Price(o["kind"], o["provider"], o.get("model"), float(o["usd_per_unit"]), str(o.get("as_of") or "cb.yaml"),
                   str(o.get("source") or "cb.yaml")) for o in overrides]
    return [*given, *DEFAULT_PRICES]


def from_settings(prices: Iterable[Mapping[str, Any]] | None) -> list[Price]:
    """The table for ``cb.yaml``'s ``prices:`` as applied with an agent (cb.config.models.PriceOverride:
    provider, model, unit, usd, as_of, source), converted to cb's units, in front of the defaults."""
    from cb.config.models import PRICE_UNITS

    out = []
    for p in prices or ():
        kind, per = PRICE_UNITS[p["unit"]]
        out.append({"kind": kind, "provider": p["provider"], "model": p.get("model"), "usd_per_unit": float(p["usd"]) * per,
                    "as_of": str(p["as_of"]), "source": f"cb.yaml: {p['source']}"})
    return price_table(out)


def find(table: Iterable[Price], kind: str, provider: str, model: str | None) -> Price | None:
    for p in table:
        if p.kind == kind and p.provider == provider and p.model in (None, model):
            return p
    return None


def quantity(kind: str, usage: Mapping[str, Any], telephony: str) -> float:
    """How many billable units of ``kind`` a call used (Twilio bills per started minute)."""
    if kind == "telephony":
        minutes = float(usage.get("connected_sec") or 0) / 60
        return float(math.ceil(minutes)) if telephony == "twilio" else round(minutes, 4)
    return float({"stt": usage.get("stt_audio_sec"), "llm_in": usage.get("llm_tokens_in"),
                  "llm_out": usage.get("llm_tokens_out"), "tts": usage.get("tts_characters")}[kind] or 0)


def call_cost(usage: Mapping[str, Any], parts: Mapping[str, tuple[str, str | None]],
              table: Iterable[Price] = DEFAULT_PRICES) -> dict[str, Any]:
    """The cost of one call: a line per billed part, the total and the per-connected-minute figure.

    ``parts`` maps telephony, stt, llm and tts to (provider, model); telephony's model is the
    call's direction (inbound, outbound).
    """
    table = list(table)
    lines, unpriced = [], []
    for kind in UNITS:
        provider, model = parts["llm" if kind.startswith("llm") else kind]
        qty = quantity(kind, usage, parts["telephony"][0])
        price = find(table, kind, provider, model)
        usd = None if price is None else round(qty * price.usd, 6)
        if price is None and qty:
            unpriced.append(f"{kind}: {provider}" + (f"/{model}" if model else ""))
        lines.append({"kind": kind, "provider": provider, "model": model, "quantity": round(qty, 3),
                      "unit": UNITS[kind], "usd_per_unit": None if price is None else price.usd, "usd": usd,
                      "as_of": None if price is None else price.as_of,
                      "source": None if price is None else price.source})
    total = round(sum(line["usd"] or 0 for line in lines), 6)
    minutes = float(usage.get("connected_sec") or 0) / 60
    return {"total_usd": total, "per_connected_minute_usd": round(total / minutes, 6) if minutes else None,
            "benchmark_per_minute_usd": BENCHMARK_PER_MINUTE_USD, "unpriced": unpriced,
            "usage": dict(usage), "lines": lines}
