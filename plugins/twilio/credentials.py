"""Twilio credentials: where they come from, how they are checked, and how they are kept out of text.

Why a module of its own: every message the provider shows (errors, logs, reprs) passes through
``Credentials.redact`` so an auth token or API secret can never reach a plan, a log or a snapshot,
whatever the SDK or the server put into an exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

from cb.providers.base import ProviderError

_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_KEY_SID = re.compile(r"^SK[0-9a-fA-F]{32}$")

FIX = (
    "export TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN "
    "(or TWILIO_ACCOUNT_SID with TWILIO_API_KEY and TWILIO_API_SECRET) in the environment that runs cb"
)


@dataclass(frozen=True)
class Credentials:
    """Account SID plus either the auth token or an API key and secret. Secrets are never printed."""

    account_sid: str
    username: str  # the basic-auth user: the account SID, or the API key SID
    secret: str = field(repr=False)

    @classmethod
    def resolve(
        cls,
        environ: Mapping[str, str],
        account_sid: str | None = None,
        auth_token: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
    ) -> "Credentials":
        """Explicit settings win over TWILIO_* variables; raise ProviderError naming what is missing."""
        sid = account_sid or environ.get("TWILIO_ACCOUNT_SID") or ""
        token = auth_token or environ.get("TWILIO_AUTH_TOKEN") or ""
        key = api_key or environ.get("TWILIO_API_KEY") or ""
        key_secret = api_secret or environ.get("TWILIO_API_SECRET") or ""
        if not sid:
            raise ProviderError(f"Twilio credentials are missing: TWILIO_ACCOUNT_SID is not set. Fix: {FIX}.")
        if not _ACCOUNT_SID.match(sid):
            hint = " (that is an API key SID: put it in TWILIO_API_KEY)" if _KEY_SID.match(sid) else ""
            raise ProviderError(
                f"TWILIO_ACCOUNT_SID {sid[:6]}… is not an account SID{hint}. "
                "Fix: use the Account SID from the Twilio console, 'AC' followed by 32 hex digits."
            )
        if key or key_secret:
            if not (key and key_secret):
                missing = "TWILIO_API_SECRET" if key else "TWILIO_API_KEY"
                raise ProviderError(f"Twilio API key credentials are incomplete: {missing} is not set. Fix: {FIX}.")
            return cls(sid, key, key_secret)
        if not token:
            raise ProviderError(f"Twilio credentials are missing: TWILIO_AUTH_TOKEN is not set. Fix: {FIX}.")
        return cls(sid, sid, token)

    def redact(self, text: str) -> str:
        """``text`` with the secret replaced, for anything shown to a person or written down."""
        return text.replace(self.secret, "[redacted]") if self.secret else text
