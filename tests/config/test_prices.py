"""Issue 19: cb.yaml's ``prices:`` override the default price table. Each entry is checked (schema,
then that a call can use it: a provider of that kind, a model it serves, not priced twice), named
at its line in cb.yaml; the prices travel with every agent, so cb plan shows a change of them and a
call is priced by what was applied with the agent that answered."""

from __future__ import annotations

from pathlib import Path

from cb.config.project import load_project
from cb.contracts.plan_document import Plan
from cb.plan.desired import desired_from_project
from cb.plan.diff import compute
from cb.plan.render_text import render_text
from cb.pricing import call_cost, from_settings

from tests.support.plans import meta

AGENT = """\
apiVersion: cb/v1
kind: Agent
metadata: {name: desk}
spec:
  instructions: Help.
  greeting: Hello.
"""

DEEPGRAM = """\
prices:
  - provider: deepgram
    model: nova-3
    unit: audio_minute
    usd: 0.0050
    as_of: 2026-11-01
    source: https://example.org/our-contract
"""


def project(root: Path, cb_yaml: str):
    (root / "agents").mkdir(parents=True, exist_ok=True)
    (root / "cb.yaml").write_text(f"apiVersion: cb/v1\nkind: Project\nname: p\npaths: [agents]\n{cb_yaml}")
    (root / "agents" / "desk.yaml").write_text(AGENT)
    return load_project(None, root)


def errors(diags):
    return [(d.line, d.code, d.message) for d in diags if d.severity == "error"]


def test_a_price_is_applied_with_each_agent_and_prices_its_calls(tmp_path):
    loaded, diags = project(tmp_path, DEEPGRAM)
    assert not errors(diags)
    content = loaded.resources["agent.desk"].canonical()
    assert content["prices"] == [{"provider": "deepgram", "model": "nova-3", "unit": "audio_minute", "usd": 0.005,
                                  "as_of": "2026-11-01", "source": "https://example.org/our-contract"}]
    usage = {"connected_sec": 60, "stt_audio_sec": 60, "llm_tokens_in": 0, "llm_tokens_out": 0, "tts_characters": 0}
    parts = {"telephony": ("local", "inbound"), "stt": ("deepgram", "nova-3"), "llm": ("scripted", None),
             "tts": ("piper", None)}
    [stt] = [line for line in call_cost(usage, parts, from_settings(content["prices"]))["lines"] if line["kind"] == "stt"]
    assert abs(stt["usd"] - 0.005) < 1e-9 and stt["as_of"] == "2026-11-01" and "our-contract" in stt["source"]
    # Without prices: an agent's content, and hash, as it always was.
    plain, _ = project(tmp_path / "plain", "")
    assert "prices" not in plain.resources["agent.desk"].canonical()


def test_cb_plan_shows_a_change_of_prices_on_the_agents(tmp_path):
    before = desired_from_project(project(tmp_path / "a", DEEPGRAM)[0])
    after = desired_from_project(project(tmp_path / "b", DEEPGRAM.replace("0.0050", "0.0048"))[0])
    live = {a: meta(d[2]) for a, d in before.items()}
    changes, errs = compute(after, live, lambda addrs: {a: before[a][2] for a in addrs})
    assert not errs
    plan = Plan(lineage="l", serial=1, created_at="t", project="p", runner="r", changes=changes)
    assert [c.address for c in plan.changes if c.is_change] == ["agent.desk"]
    text = render_text(plan)
    assert "prices" in text and "0.0048" in text, text


def test_a_price_no_call_could_use_is_an_error_at_its_line(tmp_path):
    bad = """\
prices:
  - provider: deepgram
    model: nova-9
    unit: audio_minute
    usd: 0.005
    as_of: 2026-11-01
    source: x
  - provider: deepgramm
    unit: audio_second
    usd: 0.0001
    as_of: 2026-11-01
    source: x
  - provider: twilio
    model: sideways
    unit: minute
    usd: 0.01
    as_of: 2026-11-01
    source: x
  - provider: groq
    unit: character
    usd: 0.01
    as_of: 2026-11-01
    source: x
  - provider: cartesia
    unit: character
    usd: 0.00003
    as_of: 2026-11-01
    source: x
  - provider: cartesia
    unit: million_characters
    usd: 30
    as_of: 2026-11-01
    source: x
"""
    _, diags = project(tmp_path, bad)
    found = errors(diags)
    # cb.yaml's first four lines are apiVersion, kind, name, paths: prices: is line 5, its first entry line 6
    assert (7, "CB305", "prices.0.model: deepgram has no model 'nova-9' for a audio_minute price") in found, found
    assert any(line == 12 and code == "CB303" and "'deepgramm'" in msg for line, code, msg in found), found
    assert any(line == 18 and code == "CB305" and "sideways" in msg for line, code, msg in found), found
    assert any(line == 23 and code == "CB303" and "no tts provider named 'groq'" in msg for line, code, msg in found), found
    assert any(line == 34 and code == "CB302" and "prices.4" in msg for line, code, msg in found), found
    hints = {d.line: d.hint for d in diags}
    assert "did you mean 'nova-3'" in hints[7] and "did you mean 'deepgram'" in hints[12]


def test_a_malformed_price_is_a_schema_error_at_its_line(tmp_path):
    _, diags = project(tmp_path, "prices:\n  - provider: deepgram\n    unit: per_minute\n    usd: -1\n    as_of: soon\n")
    found = errors(diags)
    lines = {line for line, _, _ in found}
    assert {7, 8, 9} <= lines, found  # the unit, the amount, the date
    assert any("source" in msg for _, _, msg in found), found  # where the price was read is required
