"""The audit key: the secret that keys the history's chain, kept outside the database.

A plain sha256 chain only proves that the rows agree with each other: whoever can write the
database can edit a revision and recompute every link after it. Each link is therefore an
HMAC-SHA256 under a key that lives in a file, not in the database (``--audit-key FILE`` /
``CB_AUDIT_KEY_FILE``; by default next to the runner's token file, else ``audit.key`` in the state
folder). The runner creates it on first start, 32 random bytes, mode 0600.

The database records only the key's id (an HMAC of a fixed label, which does not reveal the key),
so a runner started with another key refuses to write to a chain it could not extend.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

KEY_FILE = "audit.key"
SCHEME = "hmac-sha256"


class AuditKeyError(RuntimeError):
    """The key file cannot be read or created; the message says which file and why."""


def load_or_create(path: str | os.PathLike) -> bytes:
    """The key in ``path`` (hex), created with mode 0600 when the file does not exist yet."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read(path)
    except OSError as exc:
        raise AuditKeyError(f"cannot create the audit key {path}: {exc.strerror}; pass --audit-key FILE "
                            "(or CB_AUDIT_KEY_FILE) naming a file the runner may write") from None
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32) + "\n")
    return read(path)


def read(path: str | os.PathLike) -> bytes:
    path = Path(path)
    try:
        text = path.read_text().strip()
        key = bytes.fromhex(text)
    except OSError as exc:
        raise AuditKeyError(f"cannot read the audit key {path}: {exc.strerror}") from None
    except ValueError:
        raise AuditKeyError(f"the audit key {path} is not hex; it is written by the runner on first start") from None
    if len(key) < 16:
        raise AuditKeyError(f"the audit key {path} is too short ({len(key)} bytes; at least 16)")
    return key


def key_id(key: bytes) -> str:
    """A short public name of the key: an HMAC of a fixed label, which does not reveal the key."""
    return hmac.new(key, b"cb audit key id", hashlib.sha256).hexdigest()[:16]


def default_path(state_dir: str | os.PathLike, token_file: str | os.PathLike | None = None) -> Path:
    """Next to the token file when the runner has one (``<token file>.audit-key``), else in the state folder."""
    if token_file:
        token = Path(token_file)
        return token.with_name(token.name + ".audit-key")
    return Path(state_dir) / KEY_FILE
