"""HMAC-SHA256 signatures on the webhooks cb sends: ``CB-Signature: t=<unix seconds>,v1=<hex>``.

Produced by the runner's webhook delivery (signed with the hook's secret); consumed by receivers
(``verify_signature``, docs/webhooks.md) and tests. Not to be confused with the signature on
webhooks cb *receives* from the carrier (``voice_webhook_auth``).

The signed message is ``f"{t}.{body}"`` so a receiver can reject an old delivery replayed by
someone who captured it (the timestamp is covered by the MAC and checked against a window).
Several ``v1=`` entries may appear (secret rotation); one match is enough. The scheme matches
what Stripe and Svix receivers already know, so there is nothing new to learn.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "CB-Signature"
DEFAULT_TOLERANCE_SEC = 300


class SignatureError(ValueError):
    """The delivery is not authentic or too old; the receiver should answer 400/401."""


def compute(secret: str, timestamp: int, body: bytes) -> str:
    message = str(int(timestamp)).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The value of the CB-Signature header for ``body`` sent at ``timestamp``."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},v1={compute(secret, t, body)}"


def verify_signature(secret: str, body: bytes | str, header: str | None, *,
                     tolerance_sec: int = DEFAULT_TOLERANCE_SEC, now: float | None = None) -> int:
    """Check a delivery; return its timestamp or raise SignatureError saying what is wrong.

    ``body`` must be the raw request body, byte for byte: re-serialised JSON does not verify.
    """
    if isinstance(body, str):
        body = body.encode()
    if not header:
        raise SignatureError(f"missing {HEADER} header")
    t, candidates = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            t = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if t is None or not candidates:
        raise SignatureError(f"malformed {HEADER} header: expected 't=<unix seconds>,v1=<hex>'")
    now = time.time() if now is None else now
    if abs(now - t) > tolerance_sec:
        raise SignatureError(f"timestamp {t} is outside the {tolerance_sec}s replay window "
                             "(check the receiver's clock, or this is a replayed delivery)")
    expected = compute(secret, t, body)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("signature does not match: wrong secret, or the body was altered "
                             "(verify the raw body, not re-serialised JSON)")
    return t
