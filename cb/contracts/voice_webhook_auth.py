"""Who may sign a voice webhook (``X-Twilio-Signature`` on the calls cb receives).

Checked by the runner's call routes (``signed_by``); produced by Twilio itself, or by a local
caller (``cb call --local``, bench/, tests) that signs with ``sign`` and ``local_token``.
Not to be confused with the signature on webhooks cb *sends* (``webhook_signature``).

Real Twilio signs with the account's auth token (TWILIO_AUTH_TOKEN on the runner). Local calls
(``cb call --local``, tests) sign with a per-state-folder token the runner creates on first start,
readable only by its owner, so a local caller on the same machine and account can place calls
and nobody else can. Both are checked with Twilio's own RequestValidator.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from twilio.request_validator import RequestValidator

LOCAL_TOKEN_FILE = "local-twilio-token"


def local_token(state_dir: str | os.PathLike, create: bool = True) -> str | None:
    path = Path(state_dir) / LOCAL_TOKEN_FILE
    if path.is_file():
        return path.read_text().strip()
    if not create:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def signed_by(url: str, params: dict[str, str], signature: str, *, twilio_token: str | None,
              local: str | None) -> str | None:
    """``"twilio"`` or ``"local"`` for whichever token made ``signature``, else None."""
    if not signature:
        return None
    for name, token in (("twilio", twilio_token), ("local", local)):
        if token and RequestValidator(token).validate(url, params, signature):
            return name
    return None


def sign(url: str, params: dict[str, str], token: str) -> str:
    return RequestValidator(token).compute_signature(url, params)
