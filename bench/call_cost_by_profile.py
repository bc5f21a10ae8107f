"""What one call costs on each profile: the usage of a real call priced as local, scripted and cloud.

Not run in CI. The usage is a call record's ``cost.usage`` (``cb calls show ID --format json``, or
the webhook's ``cost``): pass the record's file, or nothing for the usage measured on the browser
test's call (tests/e2e/test_call_page_browser.py, a real call on the local stack: 16.6 s connected,
16.5 s of caller audio, ~1,753 / 11 LLM tokens, 80 TTS characters). Each profile's parts come from
the registry (cb.providers.pipeline.PROFILES); telephony is local for local and scripted, Twilio
inbound for cloud. Prices are cb/pricing.py's defaults, or a cb.yaml's ``prices:`` with --cb-yaml.

    .venv/bin/python bench/call_cost_by_profile.py [record.json] [--cb-yaml cb.yaml]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cb.pricing import DEFAULT_PRICES, call_cost, from_settings
from cb.providers.pipeline import resolve

BROWSER_TEST_CALL = {"connected_sec": 16.6, "stt_audio_sec": 16.5, "llm_tokens_in": 1753, "llm_tokens_out": 11,
                     "llm_tokens_estimated": True, "tts_characters": 80}
TELEPHONY = {"local": ("local", "inbound"), "scripted": ("local", "inbound"), "cloud": ("twilio", "inbound")}


def usage_of(path: str | None) -> dict:
    if not path:
        return dict(BROWSER_TEST_CALL)
    record = json.loads(Path(path).read_text())
    usage = (record.get("cost") or {}).get("usage") or record.get("usage")
    if not usage:
        raise SystemExit(f"{path}: no cost.usage in this record (a call from before calls were priced?)")
    return usage


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("record", nargs="?", help="a call record (JSON) with cost.usage")
    ap.add_argument("--cb-yaml", help="price with this cb.yaml's prices: in front of the defaults")
    args = ap.parse_args()
    table = list(DEFAULT_PRICES)
    if args.cb_yaml:
        import yaml

        table = from_settings([{**p, "as_of": str(p["as_of"])} for p in yaml.safe_load(Path(args.cb_yaml).read_text()).get("prices") or []])
    usage = usage_of(args.record)
    print(f"usage: {json.dumps(usage)}")
    print(f"{'profile':<9} {'total':>9} {'per min':>9}  lines")
    for profile, telephony in TELEPHONY.items():
        parts = {kind: (p.provider, p.model) for kind, p in resolve({"profile": profile}, profile).items()}
        parts["telephony"] = telephony
        cost = call_cost(usage, parts, table)
        lines = ", ".join(f"{l['kind']} {l['provider']}{'/' + l['model'] if l['model'] else ''} "
                          + ("unpriced" if l["usd"] is None else f"${l['usd']:.4f}") for l in cost["lines"])
        per = cost["per_connected_minute_usd"]
        print(f"{profile:<9} ${cost['total_usd']:>8.4f} {'-' if per is None else f'${per:.4f}':>9}  {lines}"
              + (f"  UNPRICED: {cost['unpriced']}" if cost["unpriced"] else ""))


if __name__ == "__main__":
    main()
