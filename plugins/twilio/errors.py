"""Turn what the twilio SDK raises into one ProviderError a person can act on.

Why: the SDK's exceptions carry a colourised, multi-line ``__str__`` and differ by call site
(a list page raises ``TwilioException('Unable to fetch page', response)``, a fetch raises
``TwilioRestException``, a dead server raises ``requests`` errors). cb shows provider errors as
is, so each becomes: what cb was doing, what Twilio said (HTTP status, error code, message,
more_info link) and a fix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cb.providers.base import ProviderError

AUTH_CODES = {20003, 20005, 20006, 20008}
RATE_LIMIT_CODES = {20429, 14107}
NOT_AVAILABLE_CODES = {21422, 21452, 21421, 21404}


@dataclass(frozen=True)
class TwilioFailure:
    """The parts of a Twilio error response cb cares about."""

    status: int | None
    code: int | None
    message: str

    @property
    def more_info(self) -> str | None:
        return f"https://www.twilio.com/docs/errors/{self.code}" if self.code else None

    @property
    def rate_limited(self) -> bool:
        return self.status == 429 or self.code in RATE_LIMIT_CODES

    @property
    def unauthorized(self) -> bool:
        return self.status == 401 or self.code in AUTH_CODES

    @property
    def not_found(self) -> bool:
        return self.status == 404 or self.code == 20404

    @property
    def not_available(self) -> bool:
        return self.code in NOT_AVAILABLE_CODES


def failure_of(exc: BaseException) -> TwilioFailure | None:
    """What Twilio answered, if ``exc`` carries an answer at all (None for network errors)."""
    from twilio.base.exceptions import TwilioException, TwilioRestException

    if isinstance(exc, TwilioRestException):
        message = str(exc.msg or "")
        # The SDK prefixes "Unable to fetch record: "; keep Twilio's own words.
        _, sep, rest = message.partition(": ")
        return TwilioFailure(exc.status, exc.code, rest if sep and message.startswith("Unable to") else message)
    if isinstance(exc, TwilioException) and len(exc.args) >= 2 and hasattr(exc.args[1], "status_code"):
        response = exc.args[1]
        body = _json(getattr(response, "text", ""))
        return TwilioFailure(
            int(response.status_code), body.get("code"), str(body.get("message") or exc.args[0])
        )
    return None


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def provider_error(exc: BaseException, doing: str, *, base_url: str, account_sid: str, attempts: int = 1) -> ProviderError:
    """The ProviderError for ``exc`` raised while ``doing`` (e.g. "update +14155550100")."""
    failure = failure_of(exc)
    if failure is None:
        return ProviderError(
            f"could not reach Twilio at {base_url} to {doing}: {type(exc).__name__}: {exc}. "
            "Fix: check the network, or TWILIO_API_BASE_URL / the api_base_url setting if you set one."
        )
    said = _said(failure)
    if failure.unauthorized:
        return ProviderError(
            f"Twilio rejected the credentials for account {account_sid} while trying to {doing} ({said}). "
            "Fix: check that TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (or TWILIO_API_KEY and TWILIO_API_SECRET) "
            "belong to the same account and were not rotated."
        )
    if failure.rate_limited:
        return ProviderError(
            f"Twilio is rate-limiting this account: could not {doing} after {attempts} attempt(s) ({said}). "
            "Fix: wait a minute and run the command again; apply fewer numbers at once."
        )
    if failure.not_found:
        return ProviderError(
            f"Twilio no longer has what cb tried to {doing} ({said}); it changed outside cb. "
            "Fix: run `cb plan` again to refresh what the account holds."
        )
    if failure.status == 403:
        return ProviderError(
            f"Twilio does not allow account {account_sid} to {doing} ({said}). "
            "Fix: use credentials with permission for phone numbers, or enable the capability in the Twilio console."
        )
    return ProviderError(f"Twilio refused to {doing} ({said}). Fix: see {failure.more_info or 'the Twilio console'}.")


def _said(failure: TwilioFailure) -> str:
    parts = [f"HTTP {failure.status}" if failure.status else None, f"error {failure.code}" if failure.code else None]
    head = ", ".join(p for p in parts if p)
    return f"{head}: {failure.message}" if head else failure.message
