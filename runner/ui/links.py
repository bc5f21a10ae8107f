"""Short-lived signed links to the web pages, so nobody pastes the bearer token into a browser.

``cb calls show ID --open`` asks the runner (with the token) for a link; the runner signs
``ui|PATH|EXPIRY`` with HMAC-SHA256 under a key only it holds (``<state>/ui-link-key``, 0600,
made on first use). Opening the link checks the signature and expiry, then sets a session cookie
(itself signed, ``session|EXPIRY``, HttpOnly, SameSite=Strict, Path=/ui) and redirects to PATH.
A link is good for LINK_SEC and only for a path under /ui; the session for SESSION_SEC.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path
from urllib.parse import urlencode

LINK_SEC = 300
SESSION_SEC = 3600
COOKIE = "cb_ui"
SCOPE = "/ui/"


def key(state_dir: str | Path) -> bytes:
    path = Path(state_dir) / "ui-link-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def _sign(k: bytes, *parts: str) -> str:
    return hmac.new(k, "|".join(parts).encode(), hashlib.sha256).hexdigest()


def link(k: bytes, path: str, now: float | None = None) -> str:
    """``/ui/open?...``: opens ``path`` (which must lie under /ui/) for LINK_SEC."""
    if not path.startswith(SCOPE) or ".." in path or "//" in path:
        raise ValueError(f"a link opens only a page under {SCOPE}, not {path!r}")
    exp = str(int((now or time.time()) + LINK_SEC))
    return "/ui/open?" + urlencode({"to": path, "exp": exp, "sig": _sign(k, "ui", path, exp)})


def check_link(k: bytes, path: str, exp: str, sig: str, now: float | None = None) -> bool:
    return (path.startswith(SCOPE) and exp.isdigit() and int(exp) >= (now or time.time())
            and hmac.compare_digest(sig, _sign(k, "ui", path, exp)))


def session(k: bytes, now: float | None = None) -> str:
    exp = str(int((now or time.time()) + SESSION_SEC))
    return f"{exp}.{_sign(k, 'session', exp)}"


def check_session(k: bytes, value: str | None, now: float | None = None) -> bool:
    exp, _, sig = (value or "").partition(".")
    return exp.isdigit() and int(exp) >= (now or time.time()) and hmac.compare_digest(sig, _sign(k, "session", exp))
