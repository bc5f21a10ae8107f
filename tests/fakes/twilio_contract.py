"""Check requests and responses recorded by FakeTwilio against Twilio's official OpenAPI spec.

Why: a fake only proves something if it agrees with the real API. The SDK's requests (method,
path, query and form parameters) are checked against the operations in Twilio's own spec, and the
fake's answers against the spec's response schemas, so neither the SDK usage nor the fake can
drift into an API that does not exist. The spec is a vendored subset (see twilio_spec/regenerate.py).

Use it in any test that talks to the fake::

    from tests.fakes.twilio_contract import contract_problems
    ...
    assert contract_problems(twilio_fake.requests) == []
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from jsonschema import Draft7Validator, FormatChecker

from .twilio_rest import RecordedRequest

SPEC_PATH = Path(__file__).parent / "twilio_spec" / "twilio_api_v2010.subset.json"
FORM = "application/x-www-form-urlencoded"
_ERROR_KEYS = {"code": int, "message": str, "more_info": str, "status": int}


def _formats() -> FormatChecker:
    """The spec's custom string formats, as Twilio really fills them ("" stands for unset URLs)."""
    checker = FormatChecker()

    def rfc2822(value: object) -> bool:
        if not isinstance(value, str):
            return True
        try:
            return parsedate_to_datetime(value) is not None
        except (TypeError, ValueError):
            return False

    checks = {
        "date-time-rfc-2822": rfc2822,
        # Twilio writes friendly forms under this format too: "(808) 925-1571".
        "phone-number": lambda v: not isinstance(v, str) or re.fullmatch(r"[+0-9*() .-]*[0-9][+0-9*() .-]*", v) is not None,
        "http-method": lambda v: not isinstance(v, str) or v in {"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"},
        "uri": lambda v: not isinstance(v, str) or v == "" or re.match(r"^(https?://|/)", v) is not None,
        "endpoint": lambda v: not isinstance(v, str) or re.match(r"^(\+[0-9]{2,15}|client:|sip:)", v) is not None,
        "iso-country-code": lambda v: not isinstance(v, str) or re.fullmatch(r"[A-Z]{2}", v) is not None,
        "currency": lambda v: not isinstance(v, str) or re.fullmatch(r"[A-Z]{3}", v) is not None,
    }
    for name, check in checks.items():
        checker.checks(name)(check)
    return checker


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    spec: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"


class Contract:
    """The spec subset, ready to judge RecordedRequests."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.schemas = spec["components"]["schemas"]
        self.formats = _formats()
        self.operations: list[Operation] = []
        for template, item in spec["paths"].items():
            regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
            for method in ("get", "post", "delete"):
                if method in item:
                    self.operations.append(Operation(method.upper(), template, re.compile(f"^{regex}$"), item[method]))

    # ------------------------------------------------------------------ schemas

    def json_schema(self, node: Any) -> Any:
        """OpenAPI 3.0 → JSON Schema: inline $ref, and `nullable: true` → also accept null."""
        if isinstance(node, list):
            return [self.json_schema(v) for v in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:  # OpenAPI 3.0: siblings of $ref are ignored
            return self.json_schema(self.schemas[node["$ref"].rsplit("/", 1)[1]])
        out = {k: self.json_schema(v) for k, v in node.items() if k != "nullable"}
        if not node.get("nullable"):
            return out
        if isinstance(out.get("type"), str):  # keeps error messages about the real type and format
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
            return out
        return {"anyOf": [out, {"type": "null"}]}

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self.schemas[node["$ref"].rsplit("/", 1)[1]]
        return node

    def _validate(self, schema: Any, value: Any, where: str) -> list[str]:
        validator = Draft7Validator(self.json_schema(schema), format_checker=self.formats)
        return [
            f"{where}{'.' + '.'.join(map(str, e.absolute_path)) if e.absolute_path else ''}: {e.message}"
            for e in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path)))
        ]

    # ------------------------------------------------------------------ requests

    def operation(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        for op in self.operations:
            match = op.pattern.match(path)
            if match and op.method == method:
                return op, match.groupdict()
        return None

    def check(self, record: RecordedRequest) -> list[str]:
        """Every way ``record`` departs from the spec, as readable lines (empty when it conforms)."""
        found = self.operation(record.method, record.path)
        where = f"{record.method} {record.path}"
        if found is None:
            return [f"{where}: no such operation in Twilio's spec (if cb now uses it, add it to "
                    "OPERATIONS in tests/fakes/twilio_spec/regenerate.py and regenerate)"]
        op, path_params = found
        problems = [] if record.username else [f"{where}: no HTTP basic credentials (the spec requires them)"]
        params = {p["name"]: p for p in op.spec.get("parameters", [])}
        for name, value in path_params.items():
            problems += self._validate(params[name]["schema"], value, f"{where}: path {name}")
        for name, values in record.query.items():
            param = params.get(name)
            if param is None or param["in"] != "query":
                problems.append(f"{where}: query parameter {name!r} is not in the spec for {op.name}")
            else:
                problems += self._param(param["schema"], values, f"{where}: query {name}")
        problems += [f"{where}: required parameter {n!r} missing" for n, p in params.items()
                     if p.get("required") and p["in"] == "query" and n not in record.query]
        problems += self._body(op, record, where)
        problems += self._response(op, record, where)
        return problems

    def _param(self, schema: dict[str, Any], values: list[str], where: str) -> list[str]:
        """Form and query values arrive as strings; coerce them to the schema's type, then validate."""
        schema = self._resolve(schema)
        if schema.get("type") == "array":
            items = self._resolve(schema.get("items", {}))
            coerced = [_coerce(items.get("type"), v) for v in values]
        else:
            if len(values) > 1:
                return [f"{where}: sent {len(values)} times, but it is not an array"]
            coerced = _coerce(schema.get("type"), values[0])
        if coerced is _BAD or (isinstance(coerced, list) and _BAD in coerced):
            return [f"{where}: {values!r} is not a {schema.get('type')}"]
        return self._validate(schema, coerced, where)

    def _body(self, op: Operation, record: RecordedRequest, where: str) -> list[str]:
        body = op.spec.get("requestBody")
        if body is None:
            return [f"{where}: has a body, but {op.name} takes none"] if record.form else []
        problems = []
        content_type = next((v for k, v in record.headers.items() if k.lower() == "content-type"), "")
        if record.form and not content_type.startswith(FORM):
            problems.append(f"{where}: body sent as {content_type!r}, the spec wants {FORM}")
        schema = self._resolve(body["content"][FORM]["schema"])
        properties = schema.get("properties", {})
        for name, values in record.form.items():
            if name not in properties:
                problems.append(f"{where}: form parameter {name!r} is not in the spec for {op.name}")
            else:
                problems += self._param(properties[name], values, f"{where}: form {name}")
        problems += [f"{where}: required form parameter {n!r} missing" for n in schema.get("required", [])
                     if n not in record.form]
        return problems

    # ------------------------------------------------------------------ responses

    def _response(self, op: Operation, record: RecordedRequest, where: str) -> list[str]:
        status = record.status
        if status >= 400:
            return _error_problems(record.response, status, where)
        answer = op.spec["responses"].get(str(status))
        if answer is None:
            return [f"{where}: answered {status}; the spec's responses for {op.name} are {sorted(op.spec['responses'])}"]
        content = answer.get("content", {}).get("application/json")
        if content is None:
            return [] if record.response is None else [f"{where}: {status} must have no body"]
        schema = content["schema"]
        problems = self._validate(schema, record.response, f"{where}: response")
        return problems + self._completeness(schema, record.response, f"{where}: response")

    def _completeness(self, schema: dict[str, Any], body: Any, where: str) -> list[str]:
        """Resources must carry exactly the spec's fields: none invented, none left out."""
        if not isinstance(body, dict):
            return []
        if "$ref" in schema:
            properties = set(self._resolve(schema).get("properties", {}))
            extra, missing = sorted(set(body) - properties), sorted(properties - set(body))
            return ([f"{where}: fields not in the spec: {extra}"] if extra else []) + (
                [f"{where}: spec fields missing: {missing}"] if missing else [])
        problems = []
        for key, prop in schema.get("properties", {}).items():
            if prop.get("type") == "array" and "$ref" in prop.get("items", {}) and isinstance(body.get(key), list):
                for i, item in enumerate(body[key]):
                    problems += self._completeness(prop["items"], item, f"{where}.{key}[{i}]")
        extra = sorted(set(body) - set(schema.get("properties", {})))
        return problems + ([f"{where}: fields not in the spec: {extra}"] if extra else [])

    def check_all(self, records: Iterable[RecordedRequest]) -> list[str]:
        return [problem for record in records for problem in self.check(record)]

    def operations_seen(self, records: Iterable[RecordedRequest]) -> set[str]:
        return {found[0].name for r in records if (found := self.operation(r.method, r.path))}


_BAD = object()


def _coerce(kind: str | None, value: str) -> Any:
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
        if kind == "boolean":
            return {"true": True, "false": False}[value.lower()]
    except (ValueError, KeyError):
        return _BAD
    return value


def _error_problems(body: Any, status: int, where: str) -> list[str]:
    """Twilio's error body: code, message, more_info, status (the spec does not describe errors)."""
    if not isinstance(body, dict):
        return [f"{where}: error {status} without a Twilio error body"]
    problems = [f"{where}: error body field {k!r} should be {t.__name__}" for k, t in _ERROR_KEYS.items()
                if not isinstance(body.get(k), t)]
    if body.get("status") != status:
        problems.append(f"{where}: error body status {body.get('status')} differs from HTTP {status}")
    return problems


@lru_cache(maxsize=1)
def load_contract() -> Contract:
    return Contract(json.loads(SPEC_PATH.read_text()))


def contract_problems(records: Iterable[RecordedRequest]) -> list[str]:
    """Shorthand: every departure from Twilio's spec in a fake's request log."""
    return load_contract().check_all(list(records))
