"""Issue 18.5: does passing the agent's vocabulary to Whisper (its initial prompt) make it hear the
agent's names? Piper speaks each line, the audio goes through G.711 mu-law at 8 kHz as on a
phone call, and the bundled Whisper (tiny.en, greedy, as on calls) transcribes it without and with
the prompt the runner builds for front-desk (cb.providers.pipeline.vocabulary_prompt). Prints a
table and writes bench/results/stt_vocabulary.json. Not run in CI.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/stt_vocabulary.py
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cb.plugins.local import speech, whisper  # noqa: E402
from cb.providers.pipeline import vocabulary_prompt  # noqa: E402

#: (line, the term it must be heard with). The demo's caller lines plus lines naming the agent's
#: business, as callers say it ("is this Acme Dental?") and as the agent's greeting says it.
LINES = [
    ("Hi is this Acme Dental?", "acme dental"),
    ("I'd like to book a cleaning at Acme Dental.", "acme dental"),
    ("Thanks for calling Acme Dental, this is the front desk. How can I help?", "acme dental"),
    ("Hello Acme Dental I need an appointment.", "acme dental"),
    ("Is Acme Dental open on Saturday?", "acme dental"),
    ("Hi I'd like to book a cleaning next week.", "cleaning"),
    ("Tuesday morning works for me.", "tuesday morning"),
    ("It's Maria Gomez.", "maria gomez"),
    ("That's all thank you goodbye.", "goodbye"),
]
#: What the runner passes for front-desk: its context's short strings (business_name) and its
#: declared pipeline.vocabulary (the demo declares the caller's name as an example of a term list).
TERMS = ("Acme Dental",)


def norm(text: str) -> str:
    return " ".join(re.sub(r"[^a-z ]", " ", text.lower()).split())


def heard(pcm8k: bytes, prompt: str | None) -> str:
    model = whisper.Greedy(whisper.shared_model(whisper.bundled_model_path()), 1)
    audio = np.frombuffer(whisper.to_16k(pcm8k, 8000), dtype=np.int16).astype(np.float32) / 32768.0
    segments, _ = model.transcribe(audio, language="en", initial_prompt=prompt, vad_filter=False)
    return " ".join(s.text.strip() for s in segments).strip()


def main() -> int:
    prompt = vocabulary_prompt(TERMS)
    rows, hits = [], {"without": 0, "with": 0}
    for line, term in LINES:
        pcm = speech.ulaw_decode(speech.ulaw_encode(speech.synthesize(line)))
        row = {"line": line, "term": term}
        for label, p in (("without", None), ("with", prompt)):
            text = heard(pcm, p)
            ok = term in norm(text)
            hits[label] += ok
            row[label] = text
            row[f"{label}_ok"] = ok
        rows.append(row)
        print(f"{'ok' if row['without_ok'] else 'MISS':4} {'ok' if row['with_ok'] else 'MISS':4}  {line!r}\n"
              f"          without: {row['without']!r}\n          with:    {row['with']!r}")
    named = [r for r in rows if r["term"] == "acme dental"]
    summary = {
        "prompt": prompt, "lines": len(rows),
        "term_heard_without": hits["without"], "term_heard_with": hits["with"],
        "acme_dental_without": sum(r["without_ok"] for r in named), "acme_dental_with": sum(r["with_ok"] for r in named),
        "acme_dental_lines": len(named),
    }
    print(json.dumps(summary, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "stt_vocabulary.json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
