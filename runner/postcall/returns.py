"""Structured returns: fill the agent's return schema from a finished call.

Runs after hang-up, off the call path: the live conversation is never forced into JSON, and a
slow or failing extraction never delays the caller. The LLM is asked in structured-output mode
(``response_format: json_schema``, which OpenAI, Groq and llama.cpp's server all accept) and its
answer is validated with jsonschema anyway, because not every server enforces the schema. An
invalid answer is sent back with the validation errors, a bounded number of times; if it never
fits, the outcome says so (``returns`` None plus the error) rather than passing on bad data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from cb.runner.schemacheck import problems

DEFAULT_MAX_ATTEMPTS = 3

SYSTEM = (
    "You turn a finished phone call into a JSON object that matches the given JSON Schema. "
    "Use only what the call and the tool results establish; where a field is unknown and the schema "
    "allows null, use null. Resolve relative dates (\"Tuesday at ten\") against the call's date and "
    "write date-times as RFC 3339 with an offset. Answer with the JSON object only."
)


@dataclass(frozen=True)
class ReturnsOutcome:
    returns: dict[str, Any] | None
    error: str | None
    attempts: int

    @property
    def ok(self) -> bool:
        return self.returns is not None


def schema_for(returns: Any, return_schemas: Mapping[str, Any]) -> dict[str, Any] | None:
    """An agent's ``spec.returns`` (a ReturnSchema name, or ``{schema: ...}`` inline) as a schema."""
    if returns is None:
        return None
    if isinstance(returns, str):
        found = return_schemas[returns]
        return getattr(found, "schema_", found)
    return getattr(returns, "schema_", None) or returns["schema"]


def _turn_line(turn: Mapping[str, Any]) -> str:
    speaker = turn.get("speaker") or turn.get("role") or "?"
    cut = " (interrupted)" if turn.get("interrupted") else ""
    return f"[{speaker}] {turn.get('text', '')}{cut}"


def _tool_line(call: Any) -> str:
    c = call.to_dict() if hasattr(call, "to_dict") else dict(call)
    outcome = json.dumps(c.get("result"), default=str) if c.get("ok") else f"failed: {c.get('error')}"
    return f"- {c.get('name')}({json.dumps(c.get('arguments', {}), default=str)}) -> {outcome}"


def prompt(transcript: Iterable[Mapping[str, Any]], tool_calls: Iterable[Any], call_time: str | None) -> str:
    parts = []
    if call_time:
        parts.append(f"The call took place at {call_time}.")
    parts.append("Transcript:\n" + ("\n".join(_turn_line(t) for t in transcript) or "(nothing was said)"))
    tools = [_tool_line(c) for c in tool_calls]
    parts.append("Tool calls:\n" + ("\n".join(tools) if tools else "(none)"))
    return "\n\n".join(parts)


async def extract_returns(schema: dict[str, Any], transcript: Iterable[Mapping[str, Any]],
                          tool_calls: Iterable[Any] = (), *, client: Any, model: str,
                          call_time: str | None = None, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                          timeout_sec: float = 60.0) -> ReturnsOutcome:
    """Ask ``client`` (an ``openai.AsyncOpenAI``) to fill ``schema``; never raises for the LLM's sake."""
    import openai

    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": prompt(transcript, tool_calls, call_time)},
    ]
    response_format: dict[str, Any] = {
        "type": "json_schema", "json_schema": {"name": "call_returns", "schema": schema, "strict": False}}
    error = "no attempt was made"
    for attempt in range(1, max_attempts + 1):
        try:
            completion = await client.chat.completions.create(
                model=model, messages=messages, response_format=response_format, temperature=0,
                timeout=timeout_sec)
        except openai.BadRequestError as exc:
            if response_format["type"] == "json_schema" and "json_schema" in str(exc):
                # Some hosted models refuse json_schema (Groq answers 400 "does not support
                # response format json_schema"): ask for plain JSON mode, the schema in the prompt.
                response_format = {"type": "json_object"}
                messages[0] = {"role": "system", "content": SYSTEM + "\nThe JSON Schema:\n" + json.dumps(schema)}
            error = f"the LLM request failed: {type(exc).__name__}: {exc}"[:500]
            continue
        except openai.OpenAIError as exc:
            error = f"the LLM request failed: {type(exc).__name__}: {exc}"[:500]
            continue
        if not hasattr(completion, "choices"):  # the client hands back a body it could not parse as-is
            error = f"the LLM server's answer is not a chat completion: {str(completion)[:200]!r}"
            continue
        raw = (completion.choices[0].message.content or "").strip() if completion.choices else ""
        try:
            value = json.loads(raw)
        except ValueError as exc:
            found = [f"not JSON: {exc}"]
        else:
            found = problems(schema, value)
            if not found:
                return ReturnsOutcome(value, None, attempt)
        error = "the answer did not match the return schema: " + "; ".join(found)
        messages += [
            {"role": "assistant", "content": raw},
            {"role": "user", "content": "That answer does not match the schema:\n- " + "\n- ".join(found)
                + "\nAnswer again with a corrected JSON object only."},
        ]
    return ReturnsOutcome(None, f"{error} (after {max_attempts} attempts)", max_attempts)
