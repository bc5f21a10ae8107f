"""The JSON Twilio's 2010 REST API answers with: resources, list pages and error bodies.

Why apart from the fake's behaviour (twilio_rest.py): these shapes are what the contract test
holds against Twilio's OpenAPI spec, field by field, so they are easiest to keep right when they
stand alone. Every resource carries exactly the spec's fields.
"""

from __future__ import annotations

import secrets
import urllib.parse
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

API_VERSION = "2010-04-01"


def now_rfc2822() -> str:
    """RFC 2822, as Twilio writes every date_* field."""
    return format_datetime(datetime.now(timezone.utc).replace(microsecond=0))


def new_sid(prefix: str) -> str:
    """A Twilio SID: two letters naming the kind (PN, CA, SK, …) and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def friendly_number(number: str) -> str:
    """Twilio's default friendly name for a NANP number: (415) 555-0100."""
    digits = number.lstrip("+")
    if len(digits) == 11 and digits.startswith("1"):
        return f"({digits[1:4]}) {digits[4:7]}-{digits[7:]}"
    return number


def twilio_error(status: int, code: int, message: str) -> dict[str, Any]:
    """A Twilio error body, as the REST API returns it."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def number_resource(account_sid: str, phone_number: str, sid: str) -> dict[str, Any]:
    """A fresh IncomingPhoneNumber: voice-capable, nothing configured."""
    now = now_rfc2822()
    return {
        "account_sid": account_sid,
        "address_sid": None,
        "address_requirements": "none",
        "api_version": API_VERSION,
        "beta": False,
        "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False},
        "date_created": now,
        "date_updated": now,
        "friendly_name": friendly_number(phone_number),
        "identity_sid": None,
        "phone_number": phone_number,
        "origin": "twilio",
        "sid": sid,
        "sms_application_sid": None,  # the spec's pattern forbids the "" its examples show
        "sms_fallback_method": "POST",
        "sms_fallback_url": "",
        "sms_method": "POST",
        "sms_url": "",
        "status_callback": "",
        "status_callback_method": "POST",
        "trunk_sid": None,
        "uri": f"/{API_VERSION}/Accounts/{account_sid}/IncomingPhoneNumbers/{sid}.json",
        "voice_receive_mode": "voice",
        "voice_application_sid": None,
        "voice_caller_id_lookup": False,
        "voice_fallback_method": "POST",
        "voice_fallback_url": None,
        "voice_method": "POST",
        "voice_url": None,
        "emergency_status": "Inactive",
        "emergency_address_sid": None,
        "emergency_address_status": "unregistered",
        "bundle_sid": None,
        "status": "in-use",
    }


def offer_resource(phone_number: str, country: str) -> dict[str, Any]:
    """An AvailablePhoneNumber (Local) that the account could buy."""
    return {
        "friendly_name": friendly_number(phone_number),
        "phone_number": phone_number,
        "lata": "722",
        "locality": "San Francisco",
        "rate_center": "SNFCSCO",
        "latitude": 37.77,
        "longitude": -122.42,
        "region": "CA",
        "postal_code": "94103",
        "iso_country": country,
        "address_requirements": "none",
        "beta": False,
        "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False},
    }


def call_resource(
    account_sid: str,
    sid: str,
    *,
    to: str,
    from_: str,
    direction: str,
    status: str,
    phone_number_sid: str | None,
) -> dict[str, Any]:
    """A Call as Twilio reports it when it is first created."""
    now = now_rfc2822()
    base = f"/{API_VERSION}/Accounts/{account_sid}/Calls/{sid}"
    return {
        "sid": sid,
        "date_created": now,
        "date_updated": now,
        "parent_call_sid": None,
        "account_sid": account_sid,
        "to": to,
        "to_formatted": friendly_number(to),
        "from": from_,
        "from_formatted": friendly_number(from_),
        "phone_number_sid": phone_number_sid,
        "status": status,
        "start_time": None,
        "end_time": None,
        "duration": None,
        "price": None,
        "price_unit": "USD",
        "direction": direction,
        "answered_by": None,
        "api_version": API_VERSION,
        "forwarded_from": None,
        "group_sid": None,
        "caller_name": None,
        "queue_time": "0",
        "trunk_sid": None,
        "uri": f"{base}.json",
        "subresource_uris": {
            "notifications": f"{base}/Notifications.json",
            "recordings": f"{base}/Recordings.json",
            "events": f"{base}/Events.json",
        },
    }


def list_page(
    path: str, query: dict[str, str], key: str, rows: list[dict[str, Any]], *, size: int, page: int
) -> dict[str, Any]:
    """A 2010-style list page: ``rows`` under ``key`` plus Page/PageSize paging and next_page_uri."""
    start = page * size
    chunk = rows[start : start + size]

    def uri(p: int) -> str:
        return path + "?" + urllib.parse.urlencode({**query, "PageSize": size, "Page": p})

    has_next = start + size < len(rows)
    return {
        key: chunk,
        "end": start + max(len(chunk) - 1, 0),
        "first_page_uri": uri(0),
        "next_page_uri": uri(page + 1) + f"&PageToken=PA{page + 1}" if has_next else None,
        "page": page,
        "page_size": size,
        "previous_page_uri": uri(page - 1) if page > 0 else None,
        "start": start,
        "uri": uri(page),
    }
