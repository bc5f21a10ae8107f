"""Who speaks for the caller in a text call: the scenario's scripted lines, or a persona with a
goal played by an LLM.

The persona's LLM sees the call from the caller's side (the agent's words as the user's, its own
earlier lines as the assistant's) under a system prompt holding the persona and the goal, and
writes one line a turn. It ends the call by calling its ``hang_up`` tool (or saying nothing), and
says at most ``max_turns`` lines. It is reached through the provider registry's OpenAI-compatible
client, as the agent's LLM is.
"""

from __future__ import annotations

from typing import Any

from cb.config.scenarios import Caller

HANG_UP = {"type": "function", "function": {
    "name": "hang_up", "description": "End the call: your goal is reached, or it cannot be.",
    "parameters": {"type": "object", "properties": {}}}}


def system_prompt(caller: Caller) -> str:
    return (f"You are a person phoning a business. Stay in character.\nWho you are: {caller.persona.strip()}\n"
            f"Your goal for this call: {caller.goal.strip()}\nSay one short spoken line at a time, only your "
            "own words. When your goal is reached, or clearly cannot be, say goodbye or call hang_up.")


class Lines:
    """The scripted caller: its lines in order, then silence."""

    def __init__(self, lines: list[str]):
        self._lines = iter(lines)

    async def next(self, transcript: list[dict[str, str]]) -> str | None:
        return next(self._lines, None)


class Persona:
    """The LLM-played caller; ``client``/``model`` as ``agent_llm`` makes them."""

    def __init__(self, caller: Caller, client: Any, model: str):
        self.caller, self.client, self.model = caller, client, model
        self.said = 0
        self.hung_up = False

    async def next(self, transcript: list[dict[str, str]]) -> str | None:
        if self.hung_up or self.said >= self.caller.max_turns:
            return None
        messages: list[dict[str, Any]] = [{"role": "system", "content": system_prompt(self.caller)}]
        for t in transcript:
            role = "assistant" if t["speaker"] == "caller" else "user"
            if messages[-1]["role"] == role:  # two agent lines in a row (greeting, filler): one message
                messages[-1]["content"] += "\n" + t["text"]
            else:
                messages.append({"role": role, "content": t["text"]})
        if messages[-1]["role"] != "user":
            messages.append({"role": "user", "content": "(silence)"})
        completion = await self.client.chat.completions.create(model=self.model, messages=messages, tools=[HANG_UP])
        message = completion.choices[0].message
        line = (message.content or "").strip()
        if any(c.function.name == "hang_up" for c in message.tool_calls or []):
            self.hung_up = True
        if not line:
            return None
        self.said += 1
        return line


