"""Who and why: the change cause recorded on every revision (git commit, author, branch, PR, dirty, -m).

CI systems name the branch and pull request in their environment; a local run asks git.
Nothing here fails: outside a git checkout the fields are simply empty.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
from pathlib import Path
from typing import Any


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _pull_request(env: dict[str, str]) -> str | None:
    ref = env.get("GITHUB_REF", "")
    if ref.startswith("refs/pull/"):
        return ref.split("/")[2]
    return env.get("CI_MERGE_REQUEST_IID") or env.get("CHANGE_ID") or env.get("BITBUCKET_PR_ID") or None


def change_cause(root: Path, message: str | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
    env = dict(os.environ if env is None else env)
    commit = env.get("GITHUB_SHA") or env.get("CI_COMMIT_SHA") or _git(root, "rev-parse", "HEAD")
    author = _git(root, "log", "-1", "--format=%an <%ae>") if commit else None
    branch = (env.get("GITHUB_HEAD_REF") or env.get("GITHUB_REF_NAME") or env.get("CI_COMMIT_REF_NAME")
              or env.get("BRANCH_NAME") or _git(root, "branch", "--show-current") or None)
    status = _git(root, "status", "--porcelain", "--untracked-files=no", "--", ".")
    return {"commit": commit or None, "author": author or None, "branch": branch,
            "pull_request": _pull_request(env), "dirty": bool(status), "message": message}


def applied_by() -> str:
    """The person or pipeline applying: CB_APPLIED_BY, else user@host."""
    if os.environ.get("CB_APPLIED_BY"):
        return os.environ["CB_APPLIED_BY"]
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"
