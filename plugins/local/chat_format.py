"""The local LLM's chat format: ChatML (SmolLM2's own template) plus tools and structured output,
each enforced by a llama.cpp grammar built from the request's JSON Schemas.

llama-cpp-python's server serves any registered chat format, but none of its built-in ones gives
this model both tools and plain replies: ``chatml-function-calling`` constrains a plain reply to
the grammar meant for the next function name, so every reply comes back empty, and its template
drops ``tool`` messages; the GGUF's own template ignores ``tools`` and ``response_format:
json_schema``. This handler, registered as ``cb-chatml-tools``:

- shows the tools in the system message in the Hermes/Qwen form small models were trained on
  (``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``), a tool's result in words in a
  user turn ("(book_appointment answered: ...) Tell the caller what it did");
- with ``tool_choice`` auto (the default when tools are given) samples freely; an answer that
  opens with ``<tool_call>`` is sampled again under the grammar of exactly one call whose name is
  one of the tools and whose arguments match that tool's JSON Schema (what ``required`` or a named
  tool always gets); ``none`` allows only text. Free words are not held to a grammar: llama.cpp's
  grammar check of every candidate token made a reply under ``[^<]+`` four times slower;
- with ``response_format`` ``json_schema`` (or ``json_object``) samples under the schema's grammar;
- streams a plain reply token by token, and a call as one ``tool_calls`` delta once it is complete.

A model as small as the bundled SmolLM2-135M never chooses a call on its own (0 calls in 20
booking calls, bench/booking_pass_rate.py), so after a caller's turn, with ``tool_choice`` auto,
two guards decide for it before it answers (llama_guards.py): the caller saying goodbye is answered
with "Goodbye" (and the model's few words after it) and ``end_call``, and a tool whose required words the model fills, under the tool's
grammar, with words the caller said (this turn for at least one) is called. A reply of the model's
that says goodbye also ends the call (``end_call``, when offered). After a tool's result the answer
is words, ``<`` kept out by a logit bias: one call per caller turn, or the model copies its own call
from the history (it booked eight times in a turn).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Iterator

NAME = "cb-chatml-tools"
CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
END = "<|im_end|>"
GOODBYE = "Goodbye"

AFTER_TOOL = "Tell the caller what it did, in one short sentence."
TOOLS_PREAMBLE = (
    "You may call one of these tools. To call one, answer with nothing but\n"
    '<tool_call>{"name": "TOOL", "arguments": {...}}</tool_call>\n'
    "Otherwise answer the caller in plain words.\nTools:\n"
)


def _content(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):  # OpenAI content parts
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def _tool_line(tool: dict[str, Any]) -> str:
    fn = tool.get("function") or {}
    params = json.dumps(fn.get("parameters") or {"type": "object", "properties": {}}, separators=(",", ":"))
    return f"- {fn.get('name')}: {fn.get('description') or ''} arguments: {params}"


def prompt(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> str:
    """The ChatML prompt for ``messages``, the tools described in the (first) system message."""
    out: list[str] = []
    from .llama_guards import calendar

    tools_text = (TOOLS_PREAMBLE + "\n".join(_tool_line(t) for t in tools) + "\n" + calendar()) if tools else ""
    if not messages or messages[0].get("role") != "system":
        messages = [{"role": "system", "content": "You are a helpful assistant."}, *messages]
    names: dict[Any, str] = {}  # tool call id -> tool name
    for i, m in enumerate(messages):
        role, text = m.get("role"), _content(m)
        if role == "system" and i == 0 and tools_text:
            text = f"{text}\n\n{tools_text}"
        if role == "assistant" and m.get("tool_calls"):
            names.update({c.get("id"): c["function"]["name"] for c in m["tool_calls"]})
            calls = [CALL_OPEN + json.dumps({"name": c["function"]["name"],
                                             "arguments": _arguments(c["function"].get("arguments"))}) + CALL_CLOSE
                     for c in m["tool_calls"]]
            text = (text + "\n" if text else "") + "\n".join(calls)
        if role == "tool":  # in words: the bundled model echoes markup it was not trained on
            tool = names.get(m.get("tool_call_id"), "the tool")
            role, text = "user", f"({tool} answered: {text}) {AFTER_TOOL}"
        out.append(f"<|im_start|>{role}\n{text}{END}\n")
    out.append("<|im_start|>assistant\n")
    return "".join(out)


def _arguments(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw or "{}")
        except ValueError:
            return raw
    return raw or {}


def _schema_rules(schema: dict[str, Any], root: str) -> str:
    """gbnf rules for ``schema`` whose top rule is named ``root`` (llama.cpp's JSON-Schema converter)."""
    from llama_cpp.llama_grammar import SchemaConverter

    converter = SchemaConverter(prop_order={"name": 0, "arguments": 1}, allow_fetch=False, dotall=False,
                                raw_pattern=False)
    schema = converter.resolve_refs(schema, "request")
    converter.visit(schema, "" if root == "root" else root)  # the converter names "" root
    return converter.format_grammar()


def calls_schema(tools: list[dict[str, Any]]) -> dict[str, Any]:
    """One tool call, as JSON: the name of one of ``tools`` and arguments matching its schema."""
    options = []
    for tool in tools:
        fn = tool.get("function") or {}
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        options.append({"type": "object", "properties": {"name": {"const": fn.get("name")}, "arguments": params},
                        "required": ["name", "arguments"], "additionalProperties": False})
    return options[0] if len(options) == 1 else {"oneOf": options}


def grammar_text(tools: list[dict[str, Any]] | None, tool_choice: Any,
                 response_format: dict[str, Any] | None) -> str | None:
    """The gbnf grammar a request's answer must follow, or None for free text."""
    kind = (response_format or {}).get("type")
    if kind in ("json_schema", "json_object"):
        schema = (((response_format or {}).get("json_schema") or {}).get("schema")
                  or (response_format or {}).get("schema") or {"type": "object"})
        try:
            return _schema_rules(schema, "root")
        except Exception:  # noqa: BLE001 - a schema the converter cannot express: any JSON object
            from llama_cpp.llama_grammar import JSON_GBNF

            return JSON_GBNF
    if not tools or tool_choice == "none":
        return None
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name")
        tools = [t for t in tools if (t.get("function") or {}).get("name") == name] or tools
    call = f'call ::= "{CALL_OPEN}" call-json "{CALL_CLOSE}"\n' + _schema_rules(calls_schema(tools), "call-json")
    if tool_choice == "required" or isinstance(tool_choice, dict):
        return "root ::= call\n" + call
    return None  # auto: free words; an answer that opens a call is sampled again as "required"


def _chunk(cid: str, model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}


def _parse_call(text: str) -> dict[str, Any] | None:
    body = text.strip()
    if not body.startswith(CALL_OPEN):
        return None
    body = body[len(CALL_OPEN):].split(CALL_CLOSE, 1)[0]
    try:
        found = json.loads(body)
    except ValueError:
        return None
    return {"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
            "function": {"name": found.get("name"), "arguments": json.dumps(found.get("arguments") or {})}}


def handler(llama: Any, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None,
            tool_choice: Any = None, response_format: dict[str, Any] | None = None, stream: bool = False,
            max_tokens: int | None = None, temperature: float = 0.2, top_p: float = 0.95, top_k: int = 40,
            min_p: float = 0.05, stop: Any = None, seed: int | None = None, model: str | None = None,
            repeat_penalty: float = 1.1, grammar: Any = None, **_: Any) -> Any:
    """A llama-cpp-python chat-completion handler (see the module docstring)."""
    from llama_cpp.llama_grammar import LlamaGrammar

    from . import llama_guards as guards

    if seed is not None:
        llama.set_seed(seed)
    stops = [END] + ([stop] if isinstance(stop, str) else list(stop or []))
    sampling = dict(temperature=temperature, top_p=top_p, top_k=top_k, min_p=min_p,
                    repeat_penalty=repeat_penalty, model=model)
    cid, name = f"chatcmpl-{uuid.uuid4().hex[:12]}", model or "local"
    auto = bool(tools) and tool_choice in (None, "auto") and not response_format
    if auto and messages and messages[-1].get("role") == "user":
        def generate(text: str, schema: dict[str, Any]) -> str:
            out = llama.create_completion(prompt=text, grammar=LlamaGrammar.from_string(
                _schema_rules(schema, "root"), verbose=False), max_tokens=120, stop=[END], **{**sampling,
                "temperature": 0.0})
            return out["choices"][0]["text"]

        if guards.farewell(messages, tools):  # "Goodbye" and the model's few words after it, then end_call
            out = llama.create_completion(prompt=prompt(messages, None) + GOODBYE, max_tokens=16,
                                          stop=[END, "\n", ".", "!", "?"], **sampling)
            words = (GOODBYE + out["choices"][0]["text"]).rstrip(" ,;:") + "!"
            return _answer(cid, name, stream, words, guards.call("end_call", {}))
        found = guards.filled(generate, messages, tools)
        if found is not None:
            return _answer(cid, name, stream, "", found)
    # One call per caller turn: after a tool's result, words only (a small model that sees its own
    # call copies it, and booked eight times in a turn before this rule).
    words_only = tool_choice == "none" or (auto and bool(messages) and messages[-1].get("role") == "tool")
    text = grammar_text(tools, "none" if words_only else tool_choice, response_format)
    if text is not None:
        grammar = LlamaGrammar.from_string(text, verbose=False)
    shown = prompt(messages, None if words_only else tools)
    completion = llama.create_completion(prompt=shown, stream=True, grammar=grammar, max_tokens=max_tokens,
                                         stop=stops, logit_bias=_no_markup(llama) if words_only else None,
                                         **sampling)

    def again() -> str:  # the model opened a call freely: the call itself, under the call grammar
        out = llama.create_completion(prompt=shown, grammar=LlamaGrammar.from_string(
            grammar_text(tools, "required", None), verbose=False), max_tokens=max_tokens, stop=stops, **sampling)
        return out["choices"][0]["text"]

    then = None  # a reply that says goodbye ends the call
    if auto and guards.offered(tools or [], "end_call"):
        then = lambda said: guards.call("end_call", {}) if guards.GOODBYE.search(said) else None  # noqa: E731
    chunks = _chunks(completion, cid, name, then, again if auto and not words_only else None)
    return chunks if stream else _whole(chunks, cid, name)


def _no_markup(llama: Any) -> dict[int, float]:
    """A logit bias that keeps ``<`` out of words (no call can open), cheaper than a grammar."""
    found = getattr(llama, "_cb_no_markup", None)
    if found is None:
        found = {}
        for token in range(llama.n_vocab()):
            piece = llama.detokenize([token]).decode("utf-8", "ignore")
            if piece.lstrip().startswith("<") and not piece.startswith("<|") and token != llama.token_eos():
                found[token] = -100.0
        llama._cb_no_markup = found
    return found


def _answer(cid: str, model: str, stream: bool, words: str, call: dict[str, Any]) -> Any:
    """An answer the guards made: ``words`` (maybe none), then ``call``."""
    chunks = iter([_chunk(cid, model, {"role": "assistant", "content": ""}),
                   *([_chunk(cid, model, {"content": words})] if words else []),
                   _chunk(cid, model, {"tool_calls": [{"index": 0, **call}]}),
                   _chunk(cid, model, {}, "tool_calls")])
    return chunks if stream else _whole(chunks, cid, model)


def _chunks(completion: Iterator[dict[str, Any]], cid: str, model: str, then: Any = None,
            again: Any = None) -> Iterator[dict[str, Any]]:
    """The completion as chunks; ``then(words said)``, a call or None, follows a plain reply; ``again()`` replaces a call the model opened without a grammar."""
    yield _chunk(cid, model, {"role": "assistant", "content": ""})
    held, calling, finish, said = "", None, "stop", ""
    for part in completion:
        choice = part["choices"][0]
        piece = choice.get("text") or ""
        finish = choice.get("finish_reason") or finish
        if calling is None:
            held += piece
            start = held.lstrip()
            if not start or (CALL_OPEN.startswith(start) and start != CALL_OPEN):
                continue  # could still become a call
            calling = start.startswith(CALL_OPEN)
            if calling and again is not None:
                held = again()
                break
            if not calling:
                said += held
                yield _chunk(cid, model, {"content": held})
            continue
        if calling:
            held += piece
        elif piece:
            said += piece
            yield _chunk(cid, model, {"content": piece})
    if calling is None and held.strip():
        said += held
        yield _chunk(cid, model, {"content": held})
    call = _parse_call(held) if calling else None
    if call is None and not calling and then is not None:
        call = then(said)
    if call is not None:
        yield _chunk(cid, model, {"tool_calls": [{"index": 0, **call}]})
        finish = "tool_calls"
    elif calling:
        yield _chunk(cid, model, {"content": held})  # a call cut short by max_tokens: say so as text
    yield _chunk(cid, model, {}, finish)


def _whole(chunks: Iterator[dict[str, Any]], cid: str, model: str) -> dict[str, Any]:
    content, calls, finish = "", [], "stop"
    for chunk in chunks:
        choice = chunk["choices"][0]
        delta = choice["delta"]
        content += delta.get("content") or ""
        calls += [{k: v for k, v in c.items() if k != "index"} for c in delta.get("tool_calls") or []]
        finish = choice["finish_reason"] or finish
    message: dict[str, Any] = {"role": "assistant", "content": content or None}
    if calls:
        message["tool_calls"] = calls
    return {"id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}


def register() -> None:
    """Make ``NAME`` a chat format llama-cpp-python (and its server) can be told to use."""
    from llama_cpp.llama_chat_format import LlamaChatCompletionHandlerRegistry

    LlamaChatCompletionHandlerRegistry().register_chat_completion_handler(NAME, handler, overwrite=True)
