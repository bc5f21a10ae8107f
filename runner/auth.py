"""The runner's one bearer-token check, a FastAPI dependency every ``/v1`` route uses.

The token is the runner's ``Settings.token`` (``CB_TOKEN`` or ``--token-file``); without one the
runner only listens on loopback (``app.check_exposure``) and every request passes. The compare
is constant-time so the token cannot be guessed a byte at a time from response times.
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

MESSAGE = "missing or wrong bearer token: set CB_TOKEN (or --token-file) to the runner's token"


def require_token(request: Request) -> None:
    token = request.app.state.cb.settings.token
    if not token:
        return
    given = request.headers.get("authorization", "")
    if not (given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), token.encode())):
        raise HTTPException(401, MESSAGE)
