"""Load a project: find its files, read every document, validate it, and collect every problem.

``load_project`` is the one entry point the CLI, the runner's watch mode and the admin API share.
It never raises on bad input: it returns the resources that are valid plus every diagnostic.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path as FsPath
from typing import Any, Iterator

from pydantic import BaseModel, ValidationError

from . import catalogue, checks, dnc_files, enforcement, pricecheck
from .diagnostics import Diagnostic
from .fielderrors import convert, did_you_mean
from .models import ADDRESS_PREFIX, API_VERSION, KINDS, ProjectFile, ToolPolicy
from .yamlsafe import Document, Path, YamlProblem, load_documents, read_text

PROJECT_FILE = "cb.yaml"
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Resource:
    """One validated document. ``address`` (``agent.front-desk``) is its identity everywhere."""

    kind: str
    name: str
    file: str
    line: int
    model: Any  # the pydantic document (Agent, Tool, ...); None while checking an invalid one
    doc: Document = field(repr=False, compare=False)
    #: An HTTP tool's: cb.yaml's ``tools:``, applied with it (cb.config.models.AppliedTool).
    policy: dict[str, Any] | None = field(default=None, compare=False)
    #: An agent's: cb.yaml's ``prices:``, applied with it (cb.config.models.AppliedAgent).
    prices: list[dict[str, Any]] | None = field(default=None, compare=False)

    @property
    def address(self) -> str:
        return f"{ADDRESS_PREFIX[self.kind]}.{self.name}"

    @property
    def spec(self) -> Any:
        return self.model.spec

    def canonical(self) -> dict[str, Any]:
        """The resource as plain JSON data: what plans diff and state stores."""
        data = self.model.model_dump(mode="json", by_alias=True)
        if self.prices:
            data = {**data, "prices": self.prices}
        return {**data, "policy": self.policy} if self.policy is not None else data

    def where(self, path: Path, prefer_key: bool = False) -> tuple[int, int]:
        return self.doc.mark(path, prefer_key=prefer_key)


@dataclass
class Project:
    root: FsPath
    settings: ProjectFile
    files: list[str] = field(default_factory=list)
    resources: dict[str, Resource] = field(default_factory=dict)

    def of_kind(self, kind: str) -> Iterator[Resource]:
        return (r for r in self.resources.values() if r.kind == kind)

    def get(self, kind: str, name: str) -> Resource | None:
        return self.resources.get(f"{ADDRESS_PREFIX[kind]}.{name}")


def find_root(start: FsPath) -> FsPath | None:
    """The nearest folder at or above ``start`` that holds a cb.yaml."""
    for folder in [start, *start.parents]:
        if (folder / PROJECT_FILE).is_file():
            return folder
    return None


def _display(path: FsPath, cwd: FsPath) -> str:
    try:
        return os.path.relpath(path, cwd)
    except ValueError:  # pragma: no cover - other drive on Windows
        return str(path)


def _inside(path: FsPath, folder: FsPath) -> bool:
    return path == folder or folder in path.parents


def _leaves(file: FsPath, cwd: FsPath, diags: list[Diagnostic]) -> bool:
    """True (and a diagnostic) when ``file`` is a symlink out of its project's folder."""
    if not file.is_symlink():
        return False
    boundary = find_root(file.parent.resolve())
    if boundary is None or _inside(file.resolve(), boundary):
        return False
    settings = _load_settings(boundary, cwd, [])
    if settings.allow_outside_paths:
        return False
    diags.append(Diagnostic(_display(file, cwd), 1, 1, "CB702", "",
                            f"symlink leads outside the project, to {file.resolve()}",
                            "copy the file into the project, or set `allow_outside_paths: true` in cb.yaml"))
    return True


def discover(paths: list[FsPath], cwd: FsPath, diags: list[Diagnostic]) -> list[FsPath]:
    """Every YAML file under ``paths`` (files as given, folders recursively, hidden ones skipped).

    Symlinked folders are not followed; a symlinked file found in a folder must stay inside its
    project (see ``allow_outside_paths``). What is not a regular file is refused when read.
    """
    found: list[FsPath] = []
    for path in paths:
        if path.is_dir():
            for folder, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [FsPath(folder) / f for f in sorted(files)
                          if f.endswith(YAML_SUFFIXES) and f != PROJECT_FILE
                          and not _leaves(FsPath(folder) / f, cwd, diags)]
        elif path.exists():
            found.append(path)  # named on purpose; read_text refuses it if it is not a regular file
        else:
            diags.append(Diagnostic(_display(path, cwd), 1, 1, "CB702", "", f"no such file or folder: {path}",
                                    "check the path, or run cb from the project's folder"))
    seen: set[FsPath] = set()
    return [p for p in found if not (p.resolve() in seen or seen.add(p.resolve()))]


def _load_settings(root: FsPath | None, cwd: FsPath, diags: list[Diagnostic]) -> ProjectFile:
    default = ProjectFile(apiVersion="cb/v1", kind="Project", name="default")
    if root is None:
        return default
    path = root / PROJECT_FILE
    shown = _display(path, cwd)
    try:
        docs = load_documents(read_text(str(path)))
    except YamlProblem as p:
        diags.append(Diagnostic(shown, p.line, p.column, p.code, "", p.message, p.hint))
        return default
    if len(docs) != 1 or not isinstance(docs[0].data, dict):
        diags.append(Diagnostic(shown, 1, 1, "CB701", "", "cb.yaml must hold exactly one mapping",
                                "see examples/*/cb.yaml"))
        return default
    try:
        settings = ProjectFile.model_validate(docs[0].data)
    except ValidationError as exc:
        for code, p, message, hint, at_key in convert(ProjectFile, docs[0], exc):
            line, col = docs[0].mark(p, prefer_key=at_key)
            diags.append(Diagnostic(shown, line, col, code, "project", message, hint))
        return default
    if settings.allow_outside_paths:
        return settings
    inside = []
    for i, entry in enumerate(settings.paths):
        if _inside((root / entry).resolve(), root.resolve()):
            inside.append(entry)
            continue
        line, col = docs[0].mark(("paths", i))
        diags.append(Diagnostic(shown, line, col, "CB701", "project", f"paths: {entry!r} leads outside the project folder",
                                "keep config inside the folder of cb.yaml, or set `allow_outside_paths: true`"))
    return settings.model_copy(update={"paths": inside})


def _resource(doc: Document, shown: str, diags: list[Diagnostic]) -> Resource | None:
    data = doc.data
    if data is None:
        return None  # an empty document (e.g. a trailing ---) is fine
    if not isinstance(data, dict):
        diags.append(Diagnostic(shown, doc.line, 1, "CB005", "", "a document must be a mapping with apiVersion, kind, metadata and spec",
                                "start it with `apiVersion: cb/v1` and `kind: Agent` (or Tool, Number, CompliancePolicy, ReturnSchema)"))
        return None
    kind = data.get("kind")
    name = (data.get("metadata") or {}).get("name") if isinstance(data.get("metadata"), dict) else None
    address = f"{ADDRESS_PREFIX[kind]}.{name}" if kind in KINDS and isinstance(name, str) else ""
    if data.get("apiVersion") != API_VERSION:
        line, col = doc.mark(("apiVersion",)) if "apiVersion" in data else (doc.line, 1)
        got = data.get("apiVersion")
        message = "missing apiVersion" if got is None else f"unsupported apiVersion {got!r}"
        diags.append(Diagnostic(shown, line, col, "CB006", address, message, f"use `apiVersion: {API_VERSION}`"))
        return None
    if kind not in KINDS:
        line, col = doc.mark(("kind",)) if "kind" in data else (doc.line, 1)
        guess = did_you_mean(str(kind), KINDS) if kind else None
        message = "missing kind" if kind is None else f"unknown kind {kind!r}"
        hint = f"did you mean '{guess}'?" if guess else f"use one of: {', '.join(KINDS)}"
        diags.append(Diagnostic(shown, line, col, "CB006", "", message, hint))
        return None
    model: type[BaseModel] = KINDS[kind]
    try:
        validated = model.model_validate(data)
    except ValidationError as exc:
        for code, p, message, hint, at_key in convert(model, doc, exc):
            line, col = doc.mark(p, prefer_key=at_key)
            diags.append(Diagnostic(shown, line, col, code, address or kind.lower(), message, hint))
        # Still checked for references and templates (model=None), never applied.
        return Resource(kind, name, shown, doc.line, None, doc) if address else None
    return Resource(kind, validated.metadata.name, shown, doc.line, validated, doc)


def read_documents(file: FsPath, shown: str, diags: list[Diagnostic]) -> list[Document]:
    """The YAML documents of one config file; a file that cannot be read or parsed is one
    diagnostic (at ``shown``, the path as printed) and no documents."""
    try:
        return load_documents(read_text(str(file)))
    except YamlProblem as p:
        diags.append(Diagnostic(shown, p.line, p.column, p.code, "", p.message, p.hint))
    except OSError as exc:
        diags.append(Diagnostic(shown, 1, 1, "CB702", "", f"cannot read file: {exc.strerror}", ""))
    return []


def _read_resources(files: list[FsPath], here: FsPath, project: Project, diags: list[Diagnostic]) -> list[Resource]:
    resources: list[Resource] = []
    for file in files:
        shown = _display(file, here)
        project.files.append(shown)
        for doc in read_documents(file, shown, diags):
            resource = _resource(doc, shown, diags)
            if resource is not None:
                resources.append(resource)
    return resources


def _build(root: FsPath | None, files: list[FsPath], here: FsPath, diags: list[Diagnostic]) -> Project:
    project = Project(root=root or here, settings=_load_settings(root, here, diags))
    if root is not None:  # scenarios are run by cb test, never applied (cb.config.scenarios)
        tests = [(root / f).resolve() for f in project.settings.scenarios]
        files = [f for f in files if not any(t in f.resolve().parents for t in tests)]
    read = _read_resources(files, here, project, diags)
    valid = [r for r in read if r.model is not None]
    partial = [r for r in read if r.model is None]
    project.resources, more = checks.run(valid, partial, project.settings)
    project.resources = with_tool_policy(project.resources, project.settings.tools)
    project.resources = with_prices(project.resources, project.settings.prices)
    project.resources = dnc_files.applied(project.resources, project.root)
    # one problem, one message: a field the schema already rejected needs no second opinion
    taken = {(d.file, d.line, d.column) for d in diags}
    diags += [d for d in more if (d.file, d.line, d.column) not in taken]
    diags += dnc_files.check([r for r in valid if r.kind == "CompliancePolicy"], project.root)
    agents = [r for r in valid if r.kind == "Agent"]
    diags += [d for d in catalogue.check(agents, project.settings.defaults.profile)
              if (d.file, d.line, d.column) not in taken]
    if root is not None:
        diags += catalogue.check_default_profile(project.settings.defaults.profile, _display(root / PROJECT_FILE, here),
                                                 *_mark(root, ("defaults", "profile")))
        diags += pricecheck.check(project.settings.prices, _display(root / PROJECT_FILE, here),
                                  lambda path: _mark(root, path))
    # a resource's errors come first: its not-enforced warnings once it is otherwise valid
    wrong = {d.address for d in diags if d.severity == "error"}
    diags += enforcement.warnings(r for r in valid if r.address not in wrong)
    return project


def with_tool_policy(resources: dict[str, Resource], policy: ToolPolicy) -> dict[str, Resource]:
    """Each HTTP tool carries the project's tools policy as it is applied, so a change of cb.yaml's
    ``tools:`` is a change of those tools: shown by plan, re-checked by apply, pinned by a call.
    The strict default is carried as no policy."""
    if policy == ToolPolicy():
        return resources
    applied = policy.model_dump(mode="json")
    return {a: replace(r, policy=applied) if r.kind == "Tool" and r.spec.http is not None else r
            for a, r in resources.items()}


def with_prices(resources: dict[str, Resource], prices: list[Any]) -> dict[str, Resource]:
    """Each agent carries cb.yaml's ``prices:`` as it is applied, so its calls are priced by what
    was applied and a change of them is a change of the agents: shown by plan, pinned by a call."""
    if not prices:
        return resources
    applied = [p.model_dump(mode="json") for p in prices]
    return {a: replace(r, prices=applied) if r.kind == "Agent" else r for a, r in resources.items()}


def _configured(root: FsPath | None, here: FsPath, diags: list[Diagnostic]) -> list[FsPath]:
    """The config folders cb.yaml names (agents/ without one); a missing one is named where it is
    declared, and a broken cb.yaml is reported as such, not as a missing folder."""
    if root is None:
        if (here / "agents").exists():
            return [here / "agents"]
        diags.append(Diagnostic(".", 1, 1, "CB702", "", "no cb.yaml in this folder or any folder above it, and no agents/ folder",
                                "run cb from your project's folder, pass the folder that holds your .yaml files "
                                "(cb validate path/to/agents), or create cb.yaml: see examples/*/cb.yaml"))
        return []
    problems: list[Diagnostic] = []
    settings = _load_settings(root, here, problems)
    diags += problems
    if any(d.severity == "error" for d in problems):
        return []  # cb.yaml is broken: its own errors say so; guessing its paths would only add noise
    shown = _display(root / PROJECT_FILE, here)
    found = []
    for i, entry in enumerate(settings.paths):
        if (root / entry).exists():
            found.append(root / entry)
        else:
            line, col = _mark(root, ("paths", i)) if "paths" in _raw_keys(root) else (1, 1)
            diags.append(Diagnostic(shown, line, col, "CB702", "project",
                                    f"paths: {entry!r} does not exist" + ("" if "paths" in _raw_keys(root)
                                                                          else " (the default when cb.yaml names no paths)"),
                                    f"create {entry}/ next to cb.yaml, or list the folders of your .yaml files under `paths:`"))
    return found


def _check_moved(project: Project, here: FsPath, diags: list[Diagnostic]) -> None:
    """Each ``moved`` entry names a resource the project declares, under its new name only."""
    shown = _display(project.root / PROJECT_FILE, here)
    for i, move in enumerate(project.settings.moved):
        if move.to not in project.resources:
            guess = did_you_mean(move.to, project.resources)
            line, col = _mark(project.root, ("moved", i, "to"))
            diags.append(Diagnostic(shown, line, col, "CB301", "project", f"moved.{i}.to: no resource {move.to} in the project",
                                    f"did you mean '{guess}'?" if guess else
                                    "`to` is the new address of a declared resource; remove the entry once applied"))
        if move.from_ in project.resources:
            line, col = _mark(project.root, ("moved", i, "from"))
            diags.append(Diagnostic(shown, line, col, "CB701", "project",
                                    f"moved.{i}.from: {move.from_} is still declared, so it is not moved",
                                    f"rename the resource to {move.to.split('.', 1)[1]!r}, or remove this entry"))


def _raw(root: FsPath) -> Document | None:
    try:
        docs = load_documents(read_text(str(root / PROJECT_FILE)))
    except (YamlProblem, OSError):
        return None
    return docs[0] if len(docs) == 1 and isinstance(docs[0].data, dict) else None


def _raw_keys(root: FsPath) -> set[str]:
    doc = _raw(root)
    return set(doc.data) if doc else set()


def _mark(root: FsPath, path: Path) -> tuple[int, int]:
    doc = _raw(root)
    return doc.mark(path) if doc else (1, 1)


def load_project(paths: list[str] | None = None, cwd: str | os.PathLike | None = None) -> tuple[Project, list[Diagnostic]]:
    """Load and validate one project: the given config ``paths``, or those its cb.yaml names.

    The project is the nearest cb.yaml at or above the first path (or ``cwd``); without one,
    defaults apply and ``agents/`` is the config folder.
    """
    here = FsPath(cwd or os.getcwd()).resolve()
    diags: list[Diagnostic] = []
    start = (here / paths[0]).resolve() if paths else here
    root = find_root(start if start.is_dir() else start.parent) or find_root(here)
    if paths:
        targets = [here / p for p in paths]
        project = _build(root, discover(targets, here, diags), here, diags)
    else:
        project = _build(root, discover(_configured(root, here, diags), here, diags), here, diags)
        if root is not None:
            _check_moved(project, here, diags)
    if not project.files and not diags:
        diags.append(Diagnostic(".", 1, 1, "CB702", "", "no YAML files found",
                                f"put .yaml files in {', '.join(project.settings.paths)}/, or pass the folder that holds "
                                "them, e.g. cb validate agents"))
    return project, sorted(set(diags))


def validate_paths(paths: list[str], cwd: str | os.PathLike | None = None) -> tuple[list[Project], list[Diagnostic]]:
    """Validate files that may belong to several projects (e.g. ``agents examples``).

    Each file belongs to the project of its nearest cb.yaml; references resolve within a project,
    so examples/a and examples/b may both declare a tool called ``lookup``.
    """
    here = FsPath(cwd or os.getcwd()).resolve()
    if not paths:
        project, diags = load_project(None, here)
        return [project], diags
    diags: list[Diagnostic] = []
    groups: dict[FsPath | None, list[FsPath]] = {}
    for file in discover([here / p for p in paths], here, diags):
        groups.setdefault(find_root(file.resolve().parent), []).append(file)
    projects = [_build(root, files, here, diags) for root, files in groups.items()]
    if not projects and not diags:
        diags.append(Diagnostic(".", 1, 1, "CB702", "", "no YAML files found",
                                "pass the folder that holds your .yaml files, e.g. cb validate agents"))
    return projects, sorted(set(diags))
