"""What a scripted LLM says: one entry per caller turn, chosen from the request alone.

The server keeps no per-conversation state, so any number of concurrent calls can share one
server: the reply to a request is picked by how many caller messages the request holds (or by
the first turn whose ``match`` regex fits the caller's last words), and a request whose last
message is a tool result gets that turn's ``after_tool`` text.

Script shape (YAML or JSON)::

    turns:
      - say: "Sure. What time would you like?"
      - match: "(?i)bye"
        say: "Goodbye!"
        tool_calls: [{name: end_call, arguments: {}}]
      - say: "Let me book that."
        tool_calls: [{name: book_appointment, arguments: {slot: "2026-04-29T15:30:00-07:00"}}]
        after_tool: "You're booked."
        system: "(?i)book_appointment"   # only if the system prompt says so, else `default`: a
                                         # prompt change changes what the model does (cb test)
    default: "Sorry, could you say that again?"
    first_token_ms: 0          # delay before the first chunk, to model a slow model
    returns:                   # answers to structured-output requests (response_format), one
      - {intent: booking}      # per attempt: a retry is answered with the next entry
    json_schema: true          # false: refuse response_format json_schema with a 400, as some
                               # hosted models do, and answer json_object requests instead
    fail:                      # fail like a broken provider (tests of what the caller hears)
      on: chat                 # chat (the live call), structured (returns extraction) or all
      after: 1                 # answer this many of those requests normally first (default 0)
      status: 429              # answer with this HTTP status and an OpenAI error body, or
      garbage: "<html>oops"    # answer 200 with this non-JSON body, or
      drop: true               # start the event stream, then close the socket mid-answer
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ScriptError(ValueError):
    """The script file is malformed; the message names the entry and the fix."""


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Turn:
    say: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    after_tool: str = ""
    match: re.Pattern[str] | None = None
    system: re.Pattern[str] | None = None


@dataclass(frozen=True)
class Reply:
    text: str
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class Failure:
    """How the server breaks, and which requests it breaks (``fail:`` in a script)."""

    on: str = "all"
    after: int = 0
    status: int | None = None
    garbage: str | None = None
    drop: bool = False

    def applies(self, structured: bool) -> bool:
        return self.on == "all" or (self.on == "structured") == structured


@dataclass(frozen=True)
class Script:
    turns: tuple[Turn, ...]
    default: str = "Sorry, could you say that again?"
    first_token_ms: int = 0
    returns: tuple[Any, ...] = ()
    json_schema: bool = True
    fail: Failure | None = None

    def structured(self, messages: list[dict[str, Any]]) -> Any:
        """The answer to a structured-output request: each retry carries the earlier answers as
        assistant messages, so the request alone says which entry of ``returns`` is next."""
        if not self.returns:
            return {}
        tries = sum(1 for m in messages if m.get("role") == "assistant")
        return self.returns[min(tries, len(self.returns) - 1)]

    def reply(self, messages: list[dict[str, Any]]) -> Reply:
        """The reply to a chat-completions request's ``messages``."""
        users = [m for m in messages if m.get("role") == "user"]
        index = max(len(users) - 1, 0)
        last_user = _text(users[-1]) if users else ""
        turn = next((t for t in self.turns if t.match and t.match.search(last_user)), None)
        if turn is None:
            unmatched = [t for t in self.turns if t.match is None]
            turn = unmatched[index] if index < len(unmatched) else None
        # The turn's tools already ran if a tool result follows the caller's last words, even
        # when something was said after it (a filler phrase lands in the context as well).
        last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
        if any(m.get("role") == "tool" for m in messages[last_user + 1:]):
            return Reply(turn.after_tool if turn else "")
        if turn is None:
            return Reply(self.default)
        system = " ".join(_text(m) for m in messages if m.get("role") == "system")
        if turn.system and not turn.system.search(system):
            return Reply(self.default)  # the prompt does not ask for this turn's behaviour
        return Reply(turn.say, turn.tool_calls)


def _text(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):  # OpenAI content parts
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def parse(data: Any, where: str = "script") -> Script:
    if isinstance(data, list):
        data = {"turns": data}
    if not isinstance(data, dict) or not isinstance(data.get("turns", []), list):
        raise ScriptError(f"{where}: expected a mapping with a `turns` list (see cb/plugins/scripted/script.py)")
    turns = []
    for i, raw in enumerate(data.get("turns", [])):
        if isinstance(raw, str):
            raw = {"say": raw}
        if not isinstance(raw, dict):
            raise ScriptError(f"{where}: turns[{i}] must be a string or a mapping with `say`/`tool_calls`")
        unknown = set(raw) - {"say", "tool_calls", "after_tool", "match", "system"}
        if unknown:
            raise ScriptError(f"{where}: turns[{i}] has unknown keys {sorted(unknown)}; "
                              "use say, tool_calls, after_tool, match, system")
        calls = []
        for j, call in enumerate(raw.get("tool_calls") or []):
            if not isinstance(call, dict) or not isinstance(call.get("name"), str):
                raise ScriptError(f"{where}: turns[{i}].tool_calls[{j}] needs a `name`")
            calls.append(ToolCall(call["name"], dict(call.get("arguments") or {})))
        match, system = (_regex(raw, key, f"{where}: turns[{i}]") for key in ("match", "system"))
        turns.append(Turn(str(raw.get("say") or ""), tuple(calls), str(raw.get("after_tool") or ""), match, system))
    returns = data.get("returns") or []
    returns = [returns] if isinstance(returns, dict) else returns
    if not isinstance(returns, list) or not all(isinstance(r, dict) for r in returns):
        raise ScriptError(f"{where}: `returns` must be a mapping or a list of mappings (JSON objects)")
    return Script(tuple(turns), str(data.get("default", Script.default)), int(data.get("first_token_ms", 0)),
                  tuple(returns), bool(data.get("json_schema", True)), _failure(data.get("fail"), where))


def _regex(raw: dict[str, Any], key: str, where: str) -> re.Pattern[str] | None:
    try:
        return re.compile(raw[key]) if raw.get(key) else None
    except re.error as exc:
        raise ScriptError(f"{where}.{key} is not a valid regex: {exc}") from None


def _failure(raw: Any, where: str) -> Failure | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - {"on", "after", "status", "garbage", "drop"} \
            or raw.get("on", "all") not in ("all", "chat", "structured"):
        raise ScriptError(f"{where}: `fail` must be a mapping of on (all|chat|structured), after, "
                          "and one of status, garbage, drop")
    return Failure(str(raw.get("on", "all")), int(raw.get("after", 0)),
                   int(raw["status"]) if raw.get("status") is not None else None,
                   str(raw["garbage"]) if raw.get("garbage") is not None else None, bool(raw.get("drop")))


def load(path: str | Path) -> Script:
    try:
        return parse(yaml.safe_load(Path(path).read_text()), str(path))
    except OSError as exc:
        raise ScriptError(f"{path}: cannot read the script: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ScriptError(f"{path}: not valid YAML: {exc}") from None
