"""Tool decisions the local chat format (chat_format.py) takes for a model too small to take them.

SmolLM2-135M writes words but never decides to call a tool, and invents names and times when
asked to. What it can do is copy: under a grammar built from a tool's JSON Schema it fills the
arguments with words from the call. So, after a caller's turn:

- ``farewell``: the caller says goodbye (or "that's all") and ``end_call`` is offered: the answer
  is a goodbye and ``end_call``, the way hosted agents end on an end-call phrase;
- ``filled``: for each other tool with required plain-string arguments, the model fills the
  arguments under the tool's grammar, told today's date and the coming days (a date-time it would
  otherwise guess); the tool is called only when every required plain-string value is words the
  caller said, at least one of them this turn (so a name given once does not book on every turn),
  and the same call was not made before.

Anything else is left to the model. A larger model served with this chat format takes the same
guards, which only ever add a call the caller's own words ground.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta
from typing import Any

FAREWELL = re.compile(r"(?i)\b(good ?bye|bye|that'?s all|that is all|have a (nice|good|great) (day|one))\b")
GOODBYE = re.compile(r"(?i)\b(good ?bye|bye)\b")


def text_of(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):  # OpenAI content parts
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)}}


def offered(tools: list[dict[str, Any]], name: str) -> bool:
    return any((t.get("function") or {}).get("name") == name for t in tools)


def farewell(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> bool:
    """The caller's last words take leave and the agent may end the call."""
    return offered(tools, "end_call") and bool(FAREWELL.search(text_of(messages[-1])))


def calendar(now: datetime | None = None) -> str:
    """Today and the coming week, named: what a model needs to turn "Tuesday at ten" into a date."""
    now = now or datetime.now().astimezone()
    days = ", ".join(f"{d:%A} {d:%Y-%m-%d}" for d in (now + timedelta(days=i) for i in range(1, 8)))
    return f"Today is {now:%A %Y-%m-%d}, time zone UTC{now:%z}. The coming days: {days}."


def _plain_strings(parameters: dict[str, Any]) -> list[str]:
    props = parameters.get("properties") or {}
    return [k for k in parameters.get("required") or []
            if isinstance(props.get(k), dict) and props[k].get("type") == "string"
            and not any(props[k].get(x) for x in ("format", "enum", "const", "pattern"))]


def _said(value: Any, lines: list[str]) -> bool:
    words = " ".join(str(value or "").split()).strip(" .,!?").lower()
    if len(words) < 3:
        return False
    return any(re.search(rf"(?<!\w){re.escape(words)}(?!\w)", " ".join(line.split()).lower()) for line in lines)


def _made_before(messages: list[dict[str, Any]], name: str, arguments: dict[str, Any]) -> bool:
    for m in messages:
        for c in m.get("tool_calls") or []:
            fn = c.get("function") or {}
            try:
                if fn.get("name") == name and json.loads(fn.get("arguments") or "{}") == arguments:
                    return True
            except ValueError:
                continue
    return False


def _transcript(messages: list[dict[str, Any]]) -> str:
    who = {"user": "Caller", "assistant": "Agent"}
    return "\n".join(f"{who[m['role']]}: {text_of(m)}" for m in messages
                     if m.get("role") in who and text_of(m).strip())


def filled(generate: Any, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A call of one of ``tools`` whose required words the caller said, or None.

    ``generate(prompt, schema)`` returns the model's text under ``schema``'s grammar."""
    caller = [text_of(m) for m in messages if m.get("role") == "user"]
    for tool in tools:
        fn = tool.get("function") or {}
        parameters = fn.get("parameters") or {}
        words = _plain_strings(parameters)
        if not words or fn.get("name") in ("end_call", "transfer_call", "do_not_call"):
            continue
        schema = dict(parameters, additionalProperties=False)
        prompt = (f"<|im_start|>system\n{calendar()}\nYou fill in the arguments of a tool from a phone call, "
                  f"with the caller's own words.<|im_end|>\n<|im_start|>user\nThe call:\n{_transcript(messages)}\n\n"
                  f"The tool: {fn.get('name')}: {fn.get('description') or ''}\n"
                  f"Its arguments (JSON Schema): {json.dumps(parameters)}<|im_end|>\n<|im_start|>assistant\n")
        try:
            arguments = json.loads(generate(prompt, schema))
        except ValueError:
            continue
        if not isinstance(arguments, dict) or not all(_said(arguments.get(k), caller) for k in words):
            continue
        if not any(_said(arguments.get(k), caller[-1:]) for k in words):
            continue
        if not _made_before(messages, fn["name"], arguments):
            return call(fn["name"], arguments)
    return None
