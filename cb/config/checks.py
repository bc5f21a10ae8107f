"""Checks that need more than one document, or more than JSON Schema can say.

Each check takes the validated resources and yields diagnostics; ``run`` applies them all so that
every problem is reported at once. A resource with a problem stays in the result (its address is
real), but ``cb validate`` exits non-zero and nothing with an error is applied.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import TYPE_CHECKING, Any, Iterable, Iterator

import jsonschema
import jsonschema_rs
from jsonschema.exceptions import SchemaError

from cb.secrets import ENV_REF, allowed_by, mentions_reference, runner_credential

from .diagnostics import Diagnostic
from .fielderrors import did_you_mean
from .models import BUILTIN_TOOLS, ProjectFile, ToolPolicy
from .templates import BUILTIN_VARIABLES, TemplateProblem, variables

if TYPE_CHECKING:
    from .project import Resource

SENSITIVE_HEADER = re.compile(r"(?i)(authorization|api[-_]?key|token|secret|password|cookie|signature)")
SECRET_SHAPES = [
    (re.compile(r"\bsk-[A-Za-z0-9_-]{20,}"), "an API key (sk-…)"),
    (re.compile(r"\bgsk_[A-Za-z0-9]{20,}"), "a Groq API key"),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "an AWS access key"),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), "a Slack token"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"(?i)\bBearer\s+(?!\$\{env:)[A-Za-z0-9._~+/-]{16,}"), "a bearer token"),
    (re.compile(r"https?://[^/\s:@]+:(?!\$\{env:)[^/\s@]+@"), "a password in a URL"),
    (re.compile(r"(?i)[?&](api[_-]?key|token|secret|password|key)=(?!\$\{env:)[^&\s]{8,}"), "a credential in a URL"),
]


def _diag(r: "Resource", path: tuple, code: str, message: str, hint: str = "", at_key: bool = False,
          offset: int = 0) -> Diagnostic:
    line, col = r.where(path, prefer_key=at_key)
    return Diagnostic(r.file, line + offset, col if not offset else 1, code, r.address, message, hint)


def duplicate_names(resources: list["Resource"]) -> Iterator[Diagnostic]:
    first: dict[str, "Resource"] = {}
    for r in resources:
        if r.address in first:
            other = first[r.address]
            yield _diag(r, ("metadata", "name"), "CB302",
                        f"{r.kind} {r.name!r} is declared twice (first at {other.file}:{other.line})",
                        "names are unique per kind; rename one, or delete the copy")
        else:
            first[r.address] = r


def _ref(r: "Resource", path: tuple, kind: str, target: str, names: Iterable[str], extra: Iterable[str] = ()) -> Diagnostic:
    choices = set(names) | set(extra)
    guess = did_you_mean(target, choices)
    if guess:
        hint = f"did you mean '{guess}'?"
    elif choices:
        hint = f"declared {kind} names: {', '.join(sorted(choices)[:8])}{' …' if len(choices) > 8 else ''}"
    else:
        hint = f"declare a {kind} named {target!r}, or remove the reference"
    return _diag(r, path, "CB301", f"{'.'.join(map(str, path))}: no {kind} named {target!r}", hint)


def _at(r: "Resource", *path: str, kind: type | tuple[type, ...] = object) -> Any:
    """The raw value at ``spec.<path>`` if it has the expected type, else None.

    Checks read the raw document, not the model, so that a document with a type error elsewhere
    still gets its references and templates checked: every problem at once.
    """
    node: Any = r.doc.data.get("spec") if isinstance(r.doc.data, dict) else None
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, kind) else None


def _names(value: Any) -> list[tuple[int, str]]:
    return [(i, v) for i, v in enumerate(value or []) if isinstance(v, str)]


def references(by_kind: dict[str, dict[str, "Resource"]]) -> Iterator[Diagnostic]:
    tools, agents = by_kind["Tool"], by_kind["Agent"]
    policies, schemas = by_kind["CompliancePolicy"], by_kind["ReturnSchema"]
    for a in agents.values():
        for i, tool in _names(_at(a, "tools", kind=list)):
            if tool not in tools and tool not in BUILTIN_TOOLS:
                yield _ref(a, ("spec", "tools", i), "Tool", tool, tools, BUILTIN_TOOLS)
        for i, policy in _names(_at(a, "compliance", kind=list)):
            if policy not in policies:
                yield _ref(a, ("spec", "compliance", i), "CompliancePolicy", policy, policies)
        returns = _at(a, "returns", kind=str)
        if returns is not None and returns not in schemas:
            yield _ref(a, ("spec", "returns"), "ReturnSchema", returns, schemas)
    for n in by_kind["Number"].values():
        agent = _at(n, "agent", kind=str)
        if agent is not None and agent not in agents:
            yield _ref(n, ("spec", "agent"), "Agent", agent, agents)


def number_options(numbers: Iterable["Resource"]) -> Iterator[Diagnostic]:
    """A Number's ``options`` as the transport serving its provider reads them (a sip trunk's listen,
    allow and proxy), through the plugin registry: what the runner would refuse at load, said now."""
    from cb.providers.transport import option_problems

    for n in numbers:
        options, provider = _at(n, "options", kind=dict), _at(n, "provider", kind=str)
        if not options or not provider:
            continue
        try:
            found = option_problems(provider, options)
        except Exception as exc:  # noqa: BLE001 - a plugin that cannot load: the apply says so too
            found = [("CB102", "", f"options: the {provider} transport cannot check them: {exc}", "")]
        for code, key, message, fix in found:
            path = ("spec", "options", key) if key in options else ("spec", "options")
            yield _diag(n, path, code, message, fix, at_key=True)


def _schema_problem(r: "Resource", path: tuple, schema: Any, what: str) -> Iterator[Diagnostic]:
    if not isinstance(schema, dict) or not jsonschema_rs.meta.is_valid(schema):
        yield from _explain_schema(r, path, schema, what)
    elif schema.get("type", "object") != "object":
        yield _diag(r, path, "CB201", f"{what} must describe an object (type: object), not {schema.get('type')!r}",
                    "wrap the value in an object: {type: object, properties: {...}}")


def _explain_schema(r: "Resource", path: tuple, schema: Any, what: str) -> Iterator[Diagnostic]:
    """The slow, exact path: jsonschema names the keyword and path that are wrong."""
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = path + tuple(exc.path)
        where_text = "/".join(str(p) for p in exc.path) or "(root)"
        yield _diag(r, where, "CB201", f"{what} is not a valid JSON Schema at {where_text}: {exc.message}",
                    "see https://json-schema.org/draft/2020-12 for the keywords and their types")


def json_schemas(resources: list["Resource"]) -> Iterator[Diagnostic]:
    for r in resources:
        if r.kind == "Tool" and _at(r, "parameters") is not None:
            yield from _schema_problem(r, ("spec", "parameters"), _at(r, "parameters"), "parameters")
        elif r.kind == "ReturnSchema" and _at(r, "schema") is not None:
            yield from _schema_problem(r, ("spec", "schema"), _at(r, "schema"), "schema")
        elif r.kind == "Agent" and _at(r, "returns", "schema") is not None:
            yield from _schema_problem(r, ("spec", "returns", "schema"), _at(r, "returns", "schema"), "returns.schema")


#: Agent fields rendered with the call's context: validated like code.
TEMPLATE_FIELDS = (("spec", "instructions"), ("spec", "greeting"), ("spec", "phone", "voicemail_message"))


def templates(agents: Iterable["Resource"]) -> Iterator[Diagnostic]:
    for a in agents:
        declared = set(_at(a, "context", kind=dict) or {}) | set(BUILTIN_VARIABLES)
        for path in TEMPLATE_FIELDS:
            source = _at(a, *path[1:], kind=str)
            if not source:
                continue
            field = ".".join(path[1:])
            # a block scalar (| or >) starts on the line after its indicator
            offset = 1 if path in a.doc.block_scalars else 0
            try:
                used = variables(source)
            except TemplateProblem as p:
                what = "template error" if p.code == "CB401" else "unsafe template"
                yield _diag(a, path, p.code, f"{field}: {what}: {p.message}",
                            p.hint or "Jinja2 syntax: {{ variable }}, {% if … %}…{% endif %}",
                            offset=offset + p.lineno - 1 if offset else 0)
                continue
            for name, lineno in used:
                if name not in declared:
                    guess = did_you_mean(name, declared)
                    hint = (f"did you mean '{guess}'? " if guess else "") + \
                        f"declare it under spec.context ({name}: {{type: string, default: …}})"
                    yield _diag(a, path, "CB402", f"{field} uses {name!r}, which the agent does not declare", hint,
                                offset=offset + lineno - 1 if offset else 0)


def _strings(value: Any, path: tuple) -> Iterator[tuple[tuple, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, path + (i,))


def inline_secrets(resources: list["Resource"]) -> Iterator[Diagnostic]:
    for r in resources:
        if r.kind == "Tool":
            for header, value in (_at(r, "http", "headers", kind=dict) or {}).items():
                if SENSITIVE_HEADER.search(str(header)) and isinstance(value, str) and not mentions_reference(value):
                    yield _diag(r, ("spec", "http", "headers", header), "CB601",
                                f"header {header!r} carries a secret written inline",
                                f"reference it instead, e.g. {header}: \"Bearer ${{env:{_env_name(r.name, header)}}}\"")
        for path, text in _strings(r.doc.data.get("spec"), ("spec",)):
            if r.kind == "Tool" and path[:3] == ("spec", "http", "headers"):
                continue  # reported above, by header name
            for shape, what in SECRET_SHAPES:
                if shape.search(text):
                    yield _diag(r, path, "CB601", f"{'.'.join(map(str, path))} contains what looks like {what}",
                                "secrets never live in git: use ${env:NAME} and set NAME where cb runs")
                    break


#: Hosts a tool or webhook must never be pointed at: the cloud metadata services (instance credentials).
METADATA_HOSTS = {"metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"}


def _forbidden_host(url: str) -> str | None:
    """Why ``url`` must not be called from the runner, or None. Loopback and private addresses stay
    allowed (a tool on the runner's own host is common); link-local (169.254.0.0/16, fe80::/10, where
    every cloud serves instance credentials) and the metadata host names never are."""
    import ipaddress
    from urllib.parse import urlsplit

    try:
        host = (urlsplit(url).hostname or "").rstrip(".").lower()
    except ValueError:
        return "it is not a URL"
    if host in METADATA_HOSTS:
        return f"{host} is a cloud metadata service"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if ip.is_link_local or ip.is_unspecified or ip.is_multicast or (ip.version == 6 and ip.ipv4_mapped and ip.ipv4_mapped.is_link_local):
        return f"{host} is a link-local address (where cloud metadata services answer)"
    return None


def urls(resources: list["Resource"]) -> Iterator[Diagnostic]:
    """Every URL the runner will call (tool http.url, agent webhook.url) must not reach link-local or metadata hosts."""
    for r in resources:
        for path, text in _strings(r.doc.data.get("spec"), ("spec",)):
            if path[-1] == "url" and isinstance(text, str):
                why = _forbidden_host(text)
                if why:
                    yield _diag(r, path, "CB603", f"{'.'.join(map(str, path))} points at {text!r}: {why}",
                                "call your own service by its real host name; the runner never calls metadata or link-local addresses")


def tool_env(tools: Iterable["Resource"], policy: ToolPolicy) -> Iterator[Diagnostic]:
    """An HTTP tool sends only the ``${env:NAME}`` its tools policy allows (cb.yaml's ``tools.env``;
    on the runner, the policy applied with the tool), and never the runner's own credentials (the
    runner refuses them again at call time)."""
    allowed = policy.env
    for r in tools:
        for path, text in _strings(_at(r, "http"), ("spec", "http")):
            for name in ENV_REF.findall(text):
                if runner_credential(name):
                    yield _diag(r, path, "CB602", f"{'.'.join(map(str, path))} sends ${{env:{name}}}, the runner's "
                                "own credential: a tool may never send it",
                                f"give the tool its own variable (e.g. {_env_name(r.name, 'token')}) and allow it in "
                                "cb.yaml under tools.env")
                elif not allowed_by(name, allowed):
                    yield _diag(r, path, "CB602", f"{'.'.join(map(str, path))} uses ${{env:{name}}}, which cb.yaml "
                                "does not allow tools to send",
                                f"allow it in cb.yaml: `tools: {{env: [{name}]}}` (or a prefix such as "
                                f"{name.split('_')[0]}_*)")


def _env_name(*parts: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", "_".join(parts).upper()).strip("_")


def run(resources: list["Resource"], partial: list["Resource"], settings: ProjectFile) -> tuple[dict[str, "Resource"], list[Diagnostic]]:
    """Apply every cross-document check to valid and ``partial`` (schema-invalid) documents.

    Returns the valid resources by address (the first of a duplicate wins) and the problems.
    A partial document is checked as far as its data allows but is never returned as a resource.
    """
    everything = sorted(resources + partial, key=lambda r: (r.file, r.line))
    diags = list(duplicate_names(everything))
    by_kind: dict[str, dict[str, "Resource"]] = defaultdict(dict)
    for r in everything:
        by_kind[r.kind].setdefault(r.name, r)
    unique = [r for named in by_kind.values() for r in named.values()]
    diags += references(by_kind)
    diags += json_schemas(unique)
    diags += templates(by_kind["Agent"].values())
    diags += inline_secrets(unique)
    diags += tool_env(by_kind["Tool"].values(), settings.tools)
    diags += urls(unique)
    diags += number_options(by_kind["Number"].values())
    by_address: dict[str, "Resource"] = {}
    for r in resources:
        by_address.setdefault(r.address, r)
    return dict(sorted(by_address.items())), diags
