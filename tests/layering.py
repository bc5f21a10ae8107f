"""The walls between cb's layers, read from the source: every import of ``cb/``, ``runner/`` and
``plugins/`` under the name it is installed as.

setup.py maps ``runner/`` to ``cb.runner`` and ``plugins/`` to ``cb.plugins``, so a tool that reads
the file system (import-linter) cannot see them; this reads the three trees itself. An import is
every ``import``/``from`` (at the top, inside a function or under ``TYPE_CHECKING``; relative ones
resolved), every ``importlib.import_module("...")`` and every string that names a module of the
tree (``"cb.x.y:attr"`` or ``"cb.x.y"``, as entry points and lazy command tables do).

The layers, from the bottom up (DESIGN.md, "Shape of the code"):
- core: every ``cb.*`` module not under cb.runner, cb.plugins or cb.cli; never the media engine;
- plugins (``cb.plugins.*``): only the plugin API (cb.providers), cb.config and cb.contracts;
- runner (``cb.runner.*``): the core, and plugins only through the entry-point registry;
- cli (``cb.cli.*`` and ``cb.__main__``): anything. Nothing imports the CLI.
No two layers may import each other, whichever rule would already say so.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

#: folder at the repository root -> the package it is installed as
TREES = {"cb": "cb", "runner": "cb.runner", "plugins": "cb.plugins"}
PLUGIN_API = ("cb.providers", "cb.config", "cb.contracts")
MODULE_STRING = re.compile(r"^(cb(?:\.[A-Za-z_][A-Za-z0-9_]*)*)(?::[A-Za-z_][A-Za-z0-9_.]*)?$")


@dataclass(frozen=True)
class Import:
    path: Path  # relative to the repository root
    line: int
    importer: str
    imported: str
    how: str  # import | lazy import | importlib | string


def under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def layer(module: str) -> str | None:
    """core, runner, plugins or cli for a module of cb; None for anything else."""
    if module == "cb.__main__":
        return "cli"  # python -m cb: the CLI's other door
    for name in ("runner", "plugins", "cli"):
        if under(module, f"cb.{name}"):
            return name
    return "core" if under(module, "cb") else None


def modules(root: Path) -> dict[str, Path]:
    """Installed name -> source file, for every .py file of the three trees."""
    found = {}
    for folder, package in TREES.items():
        base = root / folder
        for path in sorted(base.rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def _known(name: str, known: set[str]) -> str:
    """The longest prefix of ``name`` that is a module of the tree (``cb.x.y.Attr`` -> ``cb.x.y``)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in known:
            return ".".join(parts[:end])
    return name


class _Reader(ast.NodeVisitor):
    def __init__(self, path: Path, module: str, is_package: bool, known: set[str]):
        self.path, self.module, self.known = path, module, known
        self.package = module if is_package else module.rpartition(".")[0]
        self.depth = 0  # inside a function: the import is lazy
        self.found: list[Import] = []

    def add(self, node: ast.AST, imported: str, how: str | None = None) -> None:
        how = how or ("lazy import" if self.depth else "import")
        self.found.append(Import(self.path, node.lineno, self.module, imported, how))

    def visit_FunctionDef(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_Lambda = visit_FunctionDef

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.add(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")
            base = base[: len(base) - (node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        for alias in node.names:
            candidate = f"{source}.{alias.name}"
            self.add(node, candidate if candidate in self.known else _known(source, self.known))

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name == "import_module" and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str) and not node.args[0].value.startswith("."):
            self.add(node, node.args[0].value, "importlib")
            return
        if name == "getLogger":  # a logger's name is not an import
            return
        self.generic_visit(node)

    def visit_Expr(self, node: ast.Expr) -> None:
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return  # a docstring names modules in prose
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            match = MODULE_STRING.match(node.value)
            # "cb.x:attr" always names a module; a bare "cb.x" only when the tree has it (not an
            # entry-point group such as "cb.pipeline_providers").
            if match and (":" in node.value or (match.group(1) in self.known and match.group(1) != "cb")):
                self.add(node, match.group(1), "string")


def imports(root: Path) -> list[Import]:
    """Every import of the three trees, by installed names."""
    known = modules(root)
    names = set(known)
    found: list[Import] = []
    for module, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        reader = _Reader(path.relative_to(root), module, path.name == "__init__.py", names)
        reader.visit(tree)
        found += reader.found
    return found


def broken_rule(importer: str, imported: str) -> str | None:
    """Which wall an import goes through, or None when it is allowed."""
    source, target = layer(importer), layer(imported)
    if source == "core":
        if target in ("runner", "cli", "plugins"):
            return f"core -> {target}: the core never depends on the {target}"
        if under(imported, "pipecat"):
            return "core -> pipecat: the core never imports the media engine"
    elif source == "plugins":
        if target in ("runner", "cli"):
            return f"plugins -> {target}: a plugin imports only the plugin API (cb.providers), cb.config and cb.contracts"
        if target == "core" and not any(under(imported, api) for api in PLUGIN_API):
            return "plugins -> core beyond the plugin API: a plugin imports only cb.providers, cb.config and cb.contracts"
    elif source == "runner":
        if target == "cli":
            return "runner -> cli: nothing imports the CLI"
        if target == "plugins":
            return "runner -> plugins: the runner reaches plugins only through the entry-point registry"
    return None


def cycles(found: list[Import]) -> Iterator[str]:
    """Each cycle of imports between layers, named by one import of each step."""
    first: dict[tuple[str, str], Import] = {}
    for imp in found:
        source, target = layer(imp.importer), layer(imp.imported)
        if source and target and source != target:
            first.setdefault((source, target), imp)
    seen: set[frozenset[str]] = set()
    for (source, target) in sorted(first):
        path = _path(first, target, source)
        if path is not None and frozenset(path) not in seen:
            seen.add(frozenset(path))
            steps = [source, *path]
            via = "; ".join(describe(first[(a, b)]) for a, b in zip(steps, steps[1:]))
            yield f"cycle {' -> '.join(steps)}: {via}"


def _path(edges: dict[tuple[str, str], Import], start: str, goal: str) -> list[str] | None:
    """The layers from ``start`` to ``goal`` along imports (both ends included), or None."""
    paths, done = [[start]], {start}
    while paths:
        path = paths.pop(0)
        if path[-1] == goal:
            return path
        for (a, b) in sorted(edges):
            if a == path[-1] and b not in done:
                done.add(b)
                paths.append(path + [b])
    return None


def describe(imp: Import) -> str:
    return f"{imp.path}:{imp.line}: {imp.importer} imports {imp.imported} ({imp.how})"


def check(root: Path) -> list[str]:
    """One line per violation: file:line, importer, imported module and the rule it breaks."""
    found = imports(root)
    problems = [f"{describe(imp)} -- {rule}" for imp in found if (rule := broken_rule(imp.importer, imp.imported))]
    return problems + list(cycles(found))


if __name__ == "__main__":
    import sys

    problems = check(Path(__file__).resolve().parents[1])
    print("\n".join(problems) or "no layering violations")
    sys.exit(1 if problems else 0)
