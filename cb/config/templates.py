"""Agent instructions and greetings are Jinja2 templates over the call's context.

One sandboxed environment with StrictUndefined serves validation and rendering alike, so a
template that validates renders, and one that uses an undeclared variable never reaches a call.

Templates are written by many hands and rendered on every call, so they are treated as hostile
code: ``variables`` (what ``cb validate`` runs) refuses what the sandbox would refuse at render
time (``_``-prefixed and other internal attributes, calls outside a short allow-list) and what
could burn CPU (big or deeply nested loops, huge numbers); ``render_bounded`` is the one way to
render at call time, with its output, loops and time bounded.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from functools import lru_cache
from typing import Any, Iterator

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.sandbox import (UNSAFE_ASYNC_GENERATOR_ATTRIBUTES, UNSAFE_COROUTINE_ATTRIBUTES,
                            UNSAFE_FUNCTION_ATTRIBUTES, UNSAFE_GENERATOR_ATTRIBUTES, UNSAFE_METHOD_ATTRIBUTES,
                            ImmutableSandboxedEnvironment)
from jinja2.utils import missing

#: Variables every template may use without declaring them: facts about the call itself.
BUILTIN_VARIABLES = {
    "call": "the call: call.id, call.direction, call.from_number, call.to_number",
    "now": "the call's start time, ISO 8601",
}

class CallUndefined(StrictUndefined):
    """Strict for a name nobody declared (validation reports those), but a missing key of a
    declared object is empty and falsy: ``{% if customer.first_name %}`` must render for a caller
    we know nothing about (the object's default is ``{}``)."""

    def _lenient(self) -> bool:
        return self._undefined_obj is not missing

    def __bool__(self) -> bool:
        return False if self._lenient() else super().__bool__()

    def __str__(self) -> str:
        return "" if self._lenient() else super().__str__()


#: Bounds of one render (``render_bounded``) and of what ``cb validate`` lets through.
MAX_OUTPUT_CHARS = 100_000  # a prompt is a few KB; the LLM's context window is the real ceiling
MAX_RANGE = 10_000  # items one range() may yield
MAX_LOOP_STEPS = 100_000  # range() items and calls in one render, all loops together
MAX_LOOP_NESTING = 3  # {% for %} inside {% for %} inside {% for %}, no deeper
MAX_NUMBER = 1_000_000  # a bigger literal in a template is a multiplier, not a fact about a call
MAX_EXPONENT = 64
RENDER_SECONDS = 0.25

#: Functions a template may call; the sandbox's globals minus lipsum (text generation at will).
CALLABLE_GLOBALS = frozenset({"range", "dict", "namespace", "joiner", "cycler"})
#: Methods a template may call on its values: pure ones of str, dict, list and the loop.
SAFE_METHODS = frozenset({
    "capitalize", "casefold", "center", "count", "endswith", "find", "format", "get", "index", "isalnum",
    "isalpha", "isdigit", "islower", "isspace", "istitle", "isupper", "items", "join", "keys", "ljust",
    "lower", "lstrip", "partition", "removeprefix", "removesuffix", "replace", "rfind", "rjust", "rsplit",
    "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title", "upper", "values", "zfill",
    "cycle", "changed", "next", "reset", "current",
})
UNSAFE_ATTRIBUTES = (UNSAFE_FUNCTION_ATTRIBUTES | UNSAFE_METHOD_ATTRIBUTES | UNSAFE_GENERATOR_ATTRIBUTES
                     | UNSAFE_COROUTINE_ATTRIBUTES | UNSAFE_ASYNC_GENERATOR_ATTRIBUTES | {"mro"})


class RenderLimit(Exception):
    """A render went past one of its bounds (output, loop steps, time)."""


class _Budget:
    def __init__(self, seconds: float, steps: int):
        self.deadline, self.steps = time.monotonic() + seconds, steps

    def charge(self, what: str) -> None:
        self.steps -= 1
        if self.steps < 0:
            raise RenderLimit(f"template took more than {MAX_LOOP_STEPS:,} loop steps and calls ({what})")
        if time.monotonic() > self.deadline:
            raise RenderLimit(f"template took longer than its time bound ({what})")


_BUDGET: ContextVar[_Budget | None] = ContextVar("cb_template_budget", default=None)


def _charge(what: str) -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.charge(what)


def _bounded_range(*args: int) -> Iterator[int]:
    items = range(*args)
    if len(items) > MAX_RANGE:
        raise RenderLimit(f"range() of {len(items):,} items; the limit is {MAX_RANGE:,}")
    for i in items:
        _charge("range")
        yield i


class _Env(ImmutableSandboxedEnvironment):
    """The sandbox, with `*` and `**` checked (Jinja then never folds them at compile time) and
    every call charged to the render's budget."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT:
                raise RenderLimit(f"exponent {right} is over {MAX_EXPONENT}")
            return left ** right
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > MAX_OUTPUT_CHARS:
                raise RenderLimit(f"repeating a value {times:,} times goes past {MAX_OUTPUT_CHARS:,} items")
        return left * right

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _charge("call")
        return super().call(__context, __obj, *args, **kwargs)


    def _generate(self, source: nodes.Template, *args: Any, **kwargs: Any) -> str:
        """Every ``{% for %}`` iterates through ``cb_charged``, so a loop over the context's own
        data costs a step per item too (validation parses without this)."""
        for loop in source.find_all(nodes.For):
            charged = nodes.Call(nodes.Name("cb_charged", "load"), [loop.iter], [], None, None)
            loop.iter = charged.set_lineno(loop.lineno).set_environment(self)
        return super()._generate(source, *args, **kwargs)


def _charged(items: Any) -> Iterator[Any]:
    for item in items:
        _charge("loop")
        yield item


ENV = _Env(undefined=CallUndefined, autoescape=False, keep_trailing_newline=True)
ENV.globals.pop("lipsum", None)
ENV.globals["range"] = _bounded_range
ENV.globals["cb_charged"] = _charged


class TemplateProblem(Exception):
    def __init__(self, message: str, lineno: int, code: str = "CB401", hint: str = ""):
        super().__init__(message)
        self.message, self.lineno, self.code, self.hint = message, lineno, code, hint


_UNSAFE_HINT = "templates read the call's context; they cannot reach Python internals or call arbitrary code"
_COSTLY_HINT = (f"keep loops small: range() up to {MAX_RANGE:,} items, at most {MAX_LOOP_NESTING} loops deep, "
                f"{MAX_LOOP_STEPS:,} steps in all")


def _const_int(node: nodes.Node) -> int | None:
    try:
        value = node.as_const()
    except Exception:  # noqa: BLE001 - jinja's Impossible and anything a folded expression raises
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _attr_name(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        return node.arg.value
    return None


def _range_size(node: nodes.Node) -> int | None:
    """Items of ``range(<constants>)``, None when it is not one."""
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name == "range":
        args = [_const_int(a) for a in node.args]
        if args and None not in args and not node.kwargs:
            try:
                return len(range(*args))
            except (TypeError, ValueError):
                return None
    return None


def _loop_cost(node: nodes.Node, depth: int = 0, steps: int = 1) -> None:
    """Refuse loops nested too deep, and constant ranges whose product is over the step budget."""
    if not isinstance(node, nodes.For):
        for child in node.iter_child_nodes():
            _loop_cost(child, depth, steps)
        return
    if depth + 1 > MAX_LOOP_NESTING:
        raise TemplateProblem(f"loops nested {depth + 1} deep; the limit is {MAX_LOOP_NESTING}",
                              node.lineno, "CB403", _COSTLY_HINT)
    total = steps * (_range_size(node.iter) or 1)
    if total > MAX_LOOP_STEPS:
        raise TemplateProblem(f"these loops run {total:,} times; the limit is {MAX_LOOP_STEPS:,}",
                              node.lineno, "CB403", _COSTLY_HINT)
    _loop_cost(node.iter, depth, steps)
    for part in node.body:
        _loop_cost(part, depth + 1, total)
    for part in (*node.else_, *([node.test] if node.test else [])):
        _loop_cost(part, depth, steps)


def _refuse_unsafe(ast: nodes.Template) -> None:
    """What the sandbox would refuse at render time, and what could burn CPU, found statically."""
    macros = {m.name for m in ast.find_all(nodes.Macro)}
    found = sorted(ast.find_all((nodes.Getattr, nodes.Getitem, nodes.Call, nodes.Const, nodes.Filter)),
                   key=lambda n: isinstance(n, (nodes.Call, nodes.Const)))  # name the attribute before the call
    for node in found:
        if isinstance(node, nodes.Filter):  # |attr('__class__'), |map(attribute='__dict__')
            names = [a.value for a in (*node.args, *(k.value for k in node.kwargs)) if isinstance(a, nodes.Const)]
            bad = next((n for n in names if isinstance(n, str) and (n.startswith("_") or n in UNSAFE_ATTRIBUTES)), None)
            if bad is not None or (node.name == "attr" and not all(isinstance(a, nodes.Const) for a in node.args)):
                raise TemplateProblem(f"access to the attribute {bad or '(computed)'!r} is not allowed in a template",
                                      node.lineno, "CB403", _UNSAFE_HINT)
            continue
        if isinstance(node, nodes.Const):
            value = node.value
            if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) > MAX_NUMBER:
                raise TemplateProblem(f"the number {value:,} is too large for a template (limit {MAX_NUMBER:,})",
                                      node.lineno, "CB403", _COSTLY_HINT)
            continue
        name = _attr_name(node)
        if name is not None and (name.startswith("_") or name in UNSAFE_ATTRIBUTES):
            raise TemplateProblem(f"access to the attribute {name!r} is not allowed in a template",
                                  node.lineno, "CB403", _UNSAFE_HINT)
        if isinstance(node, nodes.Call):
            callee = node.node
            if isinstance(callee, nodes.Name):
                ok, shown = callee.name in CALLABLE_GLOBALS | macros | {"caller", "super"}, callee.name
            elif isinstance(callee, nodes.Getattr):
                ok, shown = callee.attr in SAFE_METHODS, f".{callee.attr}"
            else:
                ok, shown = False, "this expression"
            if not ok:
                raise TemplateProblem(f"calling {shown}() is not allowed in a template", node.lineno, "CB403",
                                      f"templates may call {', '.join(sorted(CALLABLE_GLOBALS))}, their own macros, "
                                      "and plain string and mapping methods (.upper(), .get(), …)")
            size = _range_size(node)
            if size is not None and size > MAX_RANGE:
                raise TemplateProblem(f"range() of {size:,} items; the limit is {MAX_RANGE:,}",
                                      node.lineno, "CB403", _COSTLY_HINT)
    for node in ast.find_all(nodes.Pow):
        exponent = _const_int(node.right)
        if exponent is None or abs(exponent) > MAX_EXPONENT or isinstance(node.left, nodes.Pow):
            raise TemplateProblem(f"`**` needs a constant exponent up to {MAX_EXPONENT}", node.lineno, "CB403",
                                  _COSTLY_HINT)
    _loop_cost(ast)


@lru_cache(maxsize=4096)
def variables(source: str) -> tuple[tuple[str, int], ...]:
    """(name, line) of each variable the template reads from its context; raise TemplateProblem."""
    try:
        ast = ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(exc.message or str(exc), exc.lineno or 1) from None
    # Unknown filters and tests only fail when Jinja compiles; looking them up is much cheaper.
    for node in ast.find_all((nodes.Filter, nodes.Test)):
        known = ENV.filters if isinstance(node, nodes.Filter) else ENV.tests
        if node.name not in known:
            what = "filter" if isinstance(node, nodes.Filter) else "test"
            raise TemplateProblem(f"No {what} named {node.name!r}.", node.lineno)
    _refuse_unsafe(ast)
    # Names the template assigns itself ({% set %}, {% for %}, macro arguments) are not context
    # variables. (jinja2.meta.find_undeclared_variables is exact but runs the code generator:
    # 3x slower on a 1,000-agent fleet.)
    stored = {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}
    if any(True for _ in ast.find_all(nodes.For)):
        stored.add("loop")
    if any(True for _ in ast.find_all((nodes.Macro, nodes.CallBlock))):
        stored |= {"caller", "varargs", "kwargs"}
    lines: dict[str, int] = {}
    for node in ast.find_all(nodes.Name):
        if node.ctx == "load" and node.name not in stored and node.name not in ENV.globals:
            lines.setdefault(node.name, node.lineno)
    return tuple(sorted(lines.items(), key=lambda kv: (kv[1], kv[0])))


@lru_cache(maxsize=1024)
def _compiled(source: str):
    return ENV.from_string(source)


def render(source: str, context: dict[str, Any]) -> str:
    """Render a validated template; a missing variable raises jinja2.UndefinedError.

    Unbounded in time; kept for callers that render trusted text. Call time uses ``render_bounded``.
    """
    return _compiled(source).render(**context)


def render_bounded(source: str, context: dict[str, Any], *, max_chars: int = MAX_OUTPUT_CHARS,
                   seconds: float = RENDER_SECONDS, steps: int = MAX_LOOP_STEPS) -> str:
    """Render ``source`` over ``context`` at call time, bounded; the one render the runner uses.

    Contract:

    - Sandboxed (Jinja's immutable sandbox): no ``_`` or internal attributes, no mutating methods;
      ``lipsum`` is gone and ``range`` yields at most ``MAX_RANGE`` items.
    - Output: at most ``max_chars`` characters, checked as the output is produced; ``*`` that would
      repeat past it and ``**`` with an exponent over ``MAX_EXPONENT`` are refused before computing.
    - Work and time: every ``range`` item and every call is charged to ``steps``, and the clock is read
      at each charge and after each output chunk; past ``seconds`` the render stops. The bound is
      cooperative (checked, not preempted): a template that ``cb validate`` accepted has no loop that
      runs without charging except over the context's own data, at most ``MAX_LOOP_NESTING`` deep.
    - Errors: raises ``RenderLimit`` on a bound, ``jinja2.TemplateError`` (``SecurityError``,
      ``UndefinedError``, syntax) otherwise, never anything that is the caller's fault to crash on.
      The caller (the runner) turns any of these into a spoken apology and a recorded error.
    - Blocking: a few milliseconds for a real prompt, up to ``seconds`` for a hostile one; the runner
      calls it off the event loop (e.g. ``asyncio.to_thread``) when that matters.
    - Thread-safe: the budget lives in a ``ContextVar``; compiled templates are cached by source.
    """
    template = _compiled(source)
    token = _BUDGET.set(_Budget(seconds, steps))
    try:
        out: list[str] = []
        size = 0
        for chunk in template.generate(**context):
            size += len(chunk)
            if size > max_chars:
                raise RenderLimit(f"template output is over {max_chars:,} characters")
            _check_clock()
            out.append(chunk)
        return "".join(out)
    except RecursionError:
        raise RenderLimit("template recursed too deep") from None
    finally:
        _BUDGET.reset(token)


def _check_clock() -> None:
    budget = _BUDGET.get()
    if budget is not None and time.monotonic() > budget.deadline:
        raise RenderLimit("template took longer than its time bound (output)")
