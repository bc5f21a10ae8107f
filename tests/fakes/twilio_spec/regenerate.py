"""Regenerate the vendored subset of Twilio's official OpenAPI spec for the 2010 REST API.

Why vendored: the contract test must be deterministic and offline in CI, yet checked against
Twilio's own description of the API, not against our reading of it. The spec ships in the npm
package @twilio-alpha/mcp (twilio-oai/spec/json/twilio_api_v2010.json, Apache-2.0, from
twilio/twilio-oai); this script fetches it with `npm pack`, keeps only the operations cb and its
fake use (plus every schema they reference), drops the bulky examples, and writes
twilio_api_v2010.subset.json beside this file with the package version and the source's sha256.

    python tests/fakes/twilio_spec/regenerate.py                 # the pinned version
    python tests/fakes/twilio_spec/regenerate.py --version 0.8.0 # move the pin
    python tests/fakes/twilio_spec/regenerate.py --tgz FILE      # from a tarball already fetched

When cb starts using another Twilio endpoint, add it to OPERATIONS and run this again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

PACKAGE = "@twilio-alpha/mcp"
VERSION = "0.7.0"
MEMBER = "package/twilio-oai/spec/json/twilio_api_v2010.json"
OUT = Path(__file__).with_name("twilio_api_v2010.subset.json")

_A = "/2010-04-01/Accounts/{AccountSid}"
OPERATIONS: dict[str, tuple[str, ...]] = {
    f"{_A}/IncomingPhoneNumbers.json": ("get", "post"),
    f"{_A}/IncomingPhoneNumbers/{{Sid}}.json": ("get", "post", "delete"),
    f"{_A}/AvailablePhoneNumbers/{{CountryCode}}/Local.json": ("get",),
    f"{_A}/Calls.json": ("get", "post"),
    f"{_A}/Calls/{{Sid}}.json": ("get", "post", "delete"),
}
_DROP = {"examples", "example"}


def fetch(version: str, workdir: Path) -> Path:
    """``npm pack`` the package into ``workdir``; returns the tarball."""
    result = subprocess.run(
        ["npm", "pack", f"{PACKAGE}@{version}", "--pack-destination", str(workdir), "--silent"],
        check=True, capture_output=True, text=True,
    )
    return workdir / result.stdout.strip().splitlines()[-1]


def read_spec(tgz: Path) -> tuple[bytes, str]:
    with tarfile.open(tgz) as archive:
        raw = archive.extractfile(MEMBER).read()  # type: ignore[union-attr]
        package = json.loads(archive.extractfile("package/package.json").read())  # type: ignore[union-attr]
    return raw, package["version"]


def _strip(node: Any, parent: str | None = None) -> Any:
    """Drop examples (never inside a schema's `properties`, where a field could be so named)."""
    if isinstance(node, dict):
        return {k: _strip(v, k) for k, v in node.items() if parent == "properties" or k not in _DROP}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def trim(spec: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    """The subset: OPERATIONS, the schemas they reach, security, and where it came from."""
    paths: dict[str, Any] = {}
    for path, methods in OPERATIONS.items():
        item = spec["paths"][path]
        kept = {k: v for k, v in item.items() if k not in {"get", "post", "put", "delete", "patch", "description"}}
        kept.update({m: item[m] for m in methods})
        paths[path] = _strip(kept)
    schemas: dict[str, Any] = {}
    pending = _refs(paths)
    while pending:
        ref = pending.pop()
        name = ref.rsplit("/", 1)[1]
        if name not in schemas:
            schemas[name] = _strip(spec["components"]["schemas"][name])
            pending |= _refs(schemas[name])
    return {
        "openapi": spec["openapi"],
        "info": spec["info"],
        "x-cb-source": source,
        "servers": spec.get("servers", []),
        "security": spec.get("security", []),
        "paths": paths,
        "components": {"securitySchemes": spec["components"]["securitySchemes"], "schemas": schemas},
    }


def render(subset: dict[str, Any]) -> str:
    """Stable text: sorted keys, so a regenerated file diffs only where Twilio changed something."""
    return json.dumps(subset, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default=VERSION, help=f"{PACKAGE} version (default {VERSION})")
    parser.add_argument("--tgz", type=Path, help="use this npm tarball instead of running npm pack")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tgz = args.tgz or fetch(args.version, Path(tmp))
        raw, version = read_spec(tgz)
    source = {
        "package": PACKAGE,
        "version": version,
        "file": MEMBER.removeprefix("package/"),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "license": "Apache-2.0 (twilio/twilio-oai)",
        "regenerate": "python tests/fakes/twilio_spec/regenerate.py",
    }
    OUT.write_text(render(trim(json.loads(raw), source)))
    print(f"wrote {OUT} from {PACKAGE}@{version} ({len(OPERATIONS)} paths)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
