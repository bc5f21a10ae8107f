"""A YAML reader that is safe on hostile input and remembers where every value came from.

It builds plain Python data from the parser's event stream (libyaml when available) with an
explicit stack, so that:

- no tag constructs objects (``!!python/object`` and any other unknown tag is an error);
- nesting depth and alias expansion are bounded (no recursion limit, no billion-laughs blow-up);
- duplicate mapping keys are errors, not silently overwritten;
- every value and every key has a (line, column) mark, addressed by its path in the document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

try:  # libyaml's C parser: ~10x faster on large fleets
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - pure-Python fallback
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 200_000

Path = tuple[str | int, ...]

_STANDARD_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:timestamp",
}
_RESOLVER = yaml.resolver.Resolver()
_SCALARS = yaml.constructor.SafeConstructor()


class YamlProblem(Exception):
    """A problem with the YAML itself; ``code`` is a diagnostic code."""

    def __init__(self, code: str, message: str, line: int, column: int, hint: str = ""):
        super().__init__(message)
        self.code, self.message, self.line, self.column, self.hint = code, message, line, column, hint


@dataclass
class Document:
    """One YAML document: its data and the 1-based (line, column) of each path."""

    data: Any
    line: int
    marks: dict[Path, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[Path, tuple[int, int]] = field(default_factory=dict)
    block_scalars: set[Path] = field(default_factory=set)

    def mark(self, path: Path, prefer_key: bool = False) -> tuple[int, int]:
        """The mark of ``path`` or of its nearest ancestor that has one."""
        path = tuple(path)
        while True:
            if prefer_key and path in self.key_marks:
                return self.key_marks[path]
            if path in self.marks:
                return self.marks[path]
            if path in self.key_marks:
                return self.key_marks[path]
            if not path:
                return (self.line, 1)
            path = path[:-1]


def _pos(mark: Any) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1)


def _scalar(event: yaml.ScalarEvent) -> Any:
    tag = event.tag
    if tag is None or tag == "!":
        if event.implicit[0] is False and tag == "!":
            return event.value
        tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)
    if tag not in _STANDARD_TAGS:
        line, col = _pos(event.start_mark)
        raise YamlProblem(
            "CB003",
            f"the YAML tag {tag!r} is not allowed",
            line,
            col,
            "cb reads plain data only; remove the tag",
        )
    if tag == "tag:yaml.org,2002:timestamp" or tag == "tag:yaml.org,2002:str":
        return event.value  # dates stay strings: JSON Schema speaks strings
    node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
    return _SCALARS.construct_object(node)


def _check_collection_tag(event: Any, standard: str) -> None:
    if event.tag not in (None, "!", standard):
        line, col = _pos(event.start_mark)
        raise YamlProblem(
            "CB003", f"the YAML tag {event.tag!r} is not allowed", line, col,
            "cb reads plain data only; remove the tag",
        )


def load_documents(text: str) -> list[Document]:
    """Parse every document in ``text``; raise YamlProblem at the first problem."""
    docs: list[Document] = []
    anchors: dict[str, tuple[Any, int]] = {}  # name -> (value, how many values it stands for)
    stack: list[list[Any]] = []  # frames: [container, path, pending key, nodes before, anchor]
    current: Document | None = None
    nodes = 0

    def attach(value: Any, start: Any, weight: int = 1, block: bool = False) -> Path | None:
        """Place ``value`` in the open container; return its path, or None if it was a key."""
        nonlocal nodes
        nodes += weight
        if nodes > MAX_NODES:
            line, col = _pos(start)
            raise YamlProblem(
                "CB004",
                f"the document expands to more than {MAX_NODES:,} values",
                line,
                col,
                "this looks like an alias bomb; cb configuration never needs that many values",
            )
        assert current is not None
        if not stack:
            current.data = value
            current.marks[()] = _pos(start)
            return ()
        frame = stack[-1]
        container, path = frame[0], frame[1]
        if isinstance(container, list):
            child = path + (len(container),)
            container.append(value)
        elif frame[2] is None:  # this value is a key
            if isinstance(value, (dict, list)):
                line, col = _pos(start)
                raise YamlProblem("CB001", "a mapping key must be a plain value", line, col)
            key = value if isinstance(value, str) else str(value)
            if key in container:
                line, col = _pos(start)
                first = current.key_marks.get(path + (key,), (0, 0))[0]
                raise YamlProblem(
                    "CB002",
                    f"duplicate key {key!r} (first defined on line {first})",
                    line,
                    col,
                    "a key may appear once per mapping; the second would silently win",
                )
            frame[2] = key
            current.key_marks[path + (key,)] = _pos(start)
            return None
        else:
            child = path + (frame[2],)
            container[frame[2]] = value
            frame[2] = None
        current.marks[child] = _pos(start)
        if block:
            current.block_scalars.add(child)
        return child

    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.DocumentStartEvent):
                current = Document(data=None, line=event.start_mark.line + 1)
                anchors.clear()
                nodes = 0
            elif isinstance(event, yaml.DocumentEndEvent):
                assert current is not None
                docs.append(current)
                current = None
            elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                is_map = isinstance(event, yaml.MappingStartEvent)
                _check_collection_tag(event, "tag:yaml.org,2002:map" if is_map else "tag:yaml.org,2002:seq")
                if len(stack) >= MAX_DEPTH:
                    line, col = _pos(event.start_mark)
                    raise YamlProblem(
                        "CB004",
                        f"nesting deeper than {MAX_DEPTH} levels",
                        line,
                        col,
                        "cb configuration is a few levels deep; flatten this structure",
                    )
                value: Any = {} if is_map else []
                path = attach(value, event.start_mark)
                if path is None:
                    line, col = _pos(event.start_mark)
                    raise YamlProblem("CB001", "a mapping key must be a plain value", line, col)
                stack.append([value, path, None, nodes, event.anchor])
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                value, _, _, before, anchor = stack.pop()
                if anchor:
                    anchors[anchor] = (value, nodes - before + 1)
            elif isinstance(event, yaml.ScalarEvent):
                value = _scalar(event)
                attach(value, event.start_mark, block=event.style in ("|", ">"))
                if event.anchor:
                    anchors[event.anchor] = (value, 1)
            elif isinstance(event, yaml.AliasEvent):
                if event.anchor not in anchors:
                    line, col = _pos(event.start_mark)
                    raise YamlProblem("CB001", f"unknown alias *{event.anchor}", line, col)
                value, weight = anchors[event.anchor]
                attach(value, event.start_mark, weight=weight)
    except yaml.MarkedYAMLError as exc:
        if exc.context and "quoted scalar" in exc.context and exc.context_mark is not None:
            line, col = _pos(exc.context_mark)  # the end of the file is not where the mistake is
            raise YamlProblem("CB001", "YAML syntax: this quote is never closed", line, col,
                              "close the quote on this line, or use a block scalar (|) for text with quotes") from None
        mark = exc.problem_mark or exc.context_mark
        line, col = _pos(mark) if mark else (1, 1)
        problem = exc.problem or str(exc)
        if exc.context:
            problem = f"{exc.context}: {problem}" if "found" in problem else problem
        raise YamlProblem("CB001", f"YAML syntax: {problem}", line, col,
                          "check indentation and quoting on or just before this line") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = _pos(mark) if mark else (1, 1)
        raise YamlProblem("CB001", f"YAML syntax: {exc}", line, col) from None
    except RecursionError:  # pragma: no cover - the event loop does not recurse
        raise YamlProblem("CB004", "nesting too deep", 1, 1) from None
    return docs


def read_text(path: str) -> str:
    """Read a config file as UTF-8 text, refusing huge, binary or non-regular files with a YamlProblem.

    Only a regular file is opened (a device, FIFO or socket is refused from its ``stat``, and again
    from the open descriptor, opened non-blocking), and never more than ``MAX_FILE_BYTES`` is read.
    """
    import os
    import stat

    def refuse_kind(mode: int) -> None:
        if not stat.S_ISREG(mode):
            kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode)
                    else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                    else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
            raise YamlProblem("CB702", f"refusing to read {kind}: config files must be regular files", 1, 1,
                              "remove it from the config folder (or the link that points at it)")

    def refuse_size(size: int) -> None:
        if size > MAX_FILE_BYTES:
            raise YamlProblem(
                "CB004",
                f"file is {size / 1048576:.1f} MiB; the limit is {MAX_FILE_BYTES // 1048576} MiB",
                1,
                1,
                "split the fleet into several files, or move data (e.g. do-not-call lists) out of YAML",
            )

    before = os.stat(path)
    refuse_kind(before.st_mode)
    refuse_size(before.st_size)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    with os.fdopen(fd, "rb") as fh:
        now = os.fstat(fd)
        refuse_kind(now.st_mode)  # swapped between stat and open
        refuse_size(now.st_size)
        raw = fh.read(MAX_FILE_BYTES + 1)
    refuse_size(len(raw))
    if b"\x00" in raw[:8192]:
        raise YamlProblem("CB001", "this is a binary file, not YAML", 1, 1,
                          "only UTF-8 text files with .yaml or .yml belong in the config directory")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YamlProblem("CB001", f"not valid UTF-8 at byte {exc.start}", line, 1,
                          "save the file as UTF-8") from None
