"""The LLM judge: a scenario's rubric, the call's transcript and tool log, and a verdict.

The judge is an LLM from the provider registry, reached through its OpenAI-compatible client as
returns extraction reaches the agent's LLM, asked for ``{"verdict": "pass"|"fail", "reasoning":
...}`` as structured output. A judge that cannot answer (an error, an answer that is not the
verdict JSON after a retry) fails the assertion and says why: a judge failure is never a pass.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from cb.testing.outcome import Check

from ..postcall.returns import prompt

VERDICT = {
    "type": "object",
    "properties": {"verdict": {"type": "string", "enum": ["pass", "fail"]}, "reasoning": {"type": "string"}},
    "required": ["verdict", "reasoning"],
    "additionalProperties": False,
}

SYSTEM = ("You judge a phone call between an AI agent and a caller against a rubric. Read the transcript and "
          "the tool calls, decide whether the agent's conduct meets the rubric, and answer with a JSON object: "
          '{"verdict": "pass" or "fail", "reasoning": "one or two sentences citing the transcript"}.')


async def verdict(rubric: str, transcript: Iterable[Mapping[str, Any]], tool_calls: Iterable[Any], *,
                  client: Any, model: str, attempts: int = 2) -> Check:
    import openai

    what = f"judged by {model}: {rubric.strip()}"
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"Rubric:\n{rubric.strip()}\n\n{prompt(transcript, tool_calls, None)}"},
    ]
    fmt = {"type": "json_schema", "json_schema": {"name": "verdict", "schema": VERDICT, "strict": True}}
    error = "no attempt was made"
    for _ in range(attempts):
        try:
            completion = await client.chat.completions.create(model=model, messages=messages, response_format=fmt,
                                                              temperature=0, timeout=60)
            raw = (completion.choices[0].message.content or "").strip()
        except (openai.OpenAIError, AttributeError, IndexError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
            continue
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        if isinstance(answer, dict) and answer.get("verdict") in ("pass", "fail") \
                and isinstance(answer.get("reasoning"), str):
            return Check(what, answer["verdict"] == "pass", f"{answer['verdict']}: {answer['reasoning']}")
        error = f"the answer is not the verdict JSON: {raw[:200]!r}"
        messages += [{"role": "assistant", "content": raw},
                     {"role": "user", "content": 'Answer with the JSON object only: {"verdict": "pass"|"fail", '
                                                 '"reasoning": "..."}.'}]
    return Check(what, False, f"the judge failed, so this is not a pass: {error}")
