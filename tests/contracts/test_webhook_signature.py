from __future__ import annotations

import time

import pytest

from cb.contracts.webhook_signature import SignatureError, sign, verify_signature

BODY = b'{"call_id":"call_1","status":"completed"}'


def test_a_signed_body_verifies_and_returns_its_timestamp():
    header = sign("s3cret", BODY, timestamp=1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    assert verify_signature("s3cret", BODY, header, now=1_700_000_010) == 1_700_000_000


@pytest.mark.parametrize("secret, body, why", [
    ("other", BODY, "does not match"),
    ("s3cret", BODY.replace(b"completed", b"failed"), "does not match"),
    ("s3cret", BODY + b" ", "does not match"),
])
def test_a_wrong_secret_or_altered_body_is_refused(secret, body, why):
    header = sign("s3cret", BODY)
    with pytest.raises(SignatureError, match=why):
        verify_signature(secret, body, header)


def test_a_delivery_outside_the_replay_window_is_refused_even_with_a_good_mac():
    old = int(time.time()) - 301
    with pytest.raises(SignatureError, match="replay window"):
        verify_signature("s3cret", BODY, sign("s3cret", BODY, timestamp=old))
    assert verify_signature("s3cret", BODY, sign("s3cret", BODY, timestamp=old), tolerance_sec=600) == old


def test_moving_the_timestamp_breaks_the_mac():
    header = sign("s3cret", BODY, timestamp=1_700_000_000)
    forged = header.replace("t=1700000000", "t=1700000100")
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature("s3cret", BODY, forged, now=1_700_000_100)


@pytest.mark.parametrize("header", [None, "", "v1=abc", "t=123", "t=abc,v1=00", "garbage"])
def test_a_missing_or_malformed_header_says_what_shape_is_expected(header):
    with pytest.raises(SignatureError, match="missing|malformed"):
        verify_signature("s3cret", BODY, header)


def test_any_of_several_signatures_may_match_during_secret_rotation():
    t = int(time.time())
    new = sign("new", BODY, timestamp=t).split(",")[1]
    old = sign("old", BODY, timestamp=t).split(",")[1]
    header = f"t={t},{old},{new}"
    assert verify_signature("new", BODY, header) == t
    assert verify_signature("old", BODY.decode(), header) == t
