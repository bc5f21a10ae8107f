"""Sign webhook requests exactly as Twilio does, so webhook handlers are tested against the real check.

Twilio signs each webhook with the account's auth token: HMAC-SHA1 over the full URL it requested
followed by every POST parameter (sorted by name, name then value), base64-encoded, sent as the
``X-Twilio-Signature`` header. We compute it with the SDK's own ``RequestValidator`` rather than
re-implementing it, so a handler that accepts our requests accepts Twilio's.

Typical use in a runner test::

    from tests.fakes.twilio_signing import post_signed, voice_webhook_params

    params = voice_webhook_params(account_sid=fake.account_sid, to="+14155550100")
    status, headers, body = post_signed(f"{runner_url}/twilio/voice", params, fake.auth_token)
"""

from __future__ import annotations

import secrets
import urllib.error
import urllib.parse
import urllib.request
from typing import Mapping

from twilio.request_validator import SIGNATURE_HEADER, RequestValidator

__all__ = [
    "SIGNATURE_HEADER",
    "sign",
    "signed_headers",
    "post_signed",
    "send_signed",
    "voice_webhook_params",
    "status_callback_params",
    "new_call_sid",
]


def sign(url: str, params: Mapping[str, str] | None, auth_token: str) -> str:
    """The X-Twilio-Signature Twilio would send for a POST of ``params`` to ``url``.

    ``url`` must be exactly the URL the server will see (scheme, host, port, path and query),
    because that is what Twilio signs.
    """
    return RequestValidator(auth_token).compute_signature(url, dict(params or {}))


def signed_headers(url: str, params: Mapping[str, str] | None, auth_token: str) -> dict[str, str]:
    """Headers for a form-encoded webhook POST, signature included."""
    return {
        SIGNATURE_HEADER: sign(url, params, auth_token),
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        "User-Agent": "TwilioProxy/1.1",
        "I-Twilio-Idempotency-Token": secrets.token_hex(16),
    }


def post_signed(
    url: str,
    params: Mapping[str, str],
    auth_token: str,
    *,
    signature: str | None = None,
    timeout: float = 10.0,
) -> tuple[int, dict[str, str], bytes]:
    """POST ``params`` form-encoded to ``url`` the way Twilio does; returns (status, headers, body).

    Pass ``signature`` to send a chosen (e.g. wrong) signature instead of the computed one.
    HTTP error statuses are returned, not raised, so tests can assert on a 403.
    """
    return send_signed("POST", url, params, auth_token, signature=signature, timeout=timeout)


def send_signed(
    method: str,
    url: str,
    params: Mapping[str, str],
    auth_token: str,
    *,
    signature: str | None = None,
    timeout: float = 10.0,
) -> tuple[int, dict[str, str], bytes]:
    """A webhook request as Twilio sends it for a GET or POST webhook (a number's VoiceMethod).

    For GET, Twilio puts the parameters in the query string and signs that full URL with no
    body parameters; for POST it signs the URL plus the form parameters.
    """
    method = method.upper()
    data = None
    if method == "GET":
        url = url + ("&" if "?" in url else "?") + urllib.parse.urlencode(dict(params))
        headers = signed_headers(url, {}, auth_token)
        del headers["Content-Type"]
    else:
        headers = signed_headers(url, params, auth_token)
        data = urllib.parse.urlencode(dict(params)).encode()
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def new_call_sid() -> str:
    return "CA" + secrets.token_hex(16)


def voice_webhook_params(
    *,
    account_sid: str,
    to: str,
    from_: str = "+15005550006",
    call_sid: str | None = None,
    call_status: str = "ringing",
    direction: str = "inbound",
    **extra: str,
) -> dict[str, str]:
    """The parameters Twilio POSTs to a number's voice URL when a call comes in."""
    params = {
        "AccountSid": account_sid,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid or new_call_sid(),
        "CallStatus": call_status,
        "Called": to,
        "Caller": from_,
        "Direction": direction,
        "From": from_,
        "To": to,
        "CallToken": "",
        "CalledCountry": "US",
        "CallerCountry": "US",
    }
    params.update(extra)
    return params


def status_callback_params(
    *,
    account_sid: str,
    call_sid: str,
    to: str,
    from_: str,
    call_status: str,
    direction: str = "outbound-api",
    duration: int | None = None,
    sequence_number: int = 0,
    **extra: str,
) -> dict[str, str]:
    """The parameters Twilio POSTs to a call's StatusCallback URL."""
    params = {
        "AccountSid": account_sid,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": call_status,
        "Called": to,
        "Caller": from_,
        "Direction": direction,
        "From": from_,
        "To": to,
        "SequenceNumber": str(sequence_number),
        "CallbackSource": "call-progress-events",
    }
    if duration is not None:
        params["CallDuration"] = str(duration)
        params["Duration"] = str(max(1, (duration + 59) // 60))
    params.update(extra)
    return params
