"""A small stateful fake of Twilio's 2010 REST API, served over real HTTP on 127.0.0.1.

Why a fake and not mocks: the code under test uses the real ``twilio`` SDK, and the only thing
out of reach here is Twilio itself. The fake speaks the same wire protocol (form-encoded requests,
HTTP basic auth, JSON bodies shaped like Twilio's, Twilio-style error bodies), so the SDK's URL
building, paging, parameter encoding and error parsing are all exercised for real. Its requests
and responses are checked against Twilio's own OpenAPI spec in tests/twilio/test_twilio_contract.py.

Endpoints (all under /2010-04-01/Accounts/{AccountSid}/):

* IncomingPhoneNumbers.json            GET (PhoneNumber / FriendlyName filters, paging), POST (purchase)
* IncomingPhoneNumbers/{PN…}.json      GET, POST (update), DELETE (release)
* AvailablePhoneNumbers/{CC}/Local.json GET (Contains / AreaCode filters)
* Calls.json                           GET (To / From / Status filters), POST (place a call)
* Calls/{CA…}.json                     GET, POST (redirect / cancel / complete), DELETE

Use::

    with FakeTwilio() as fake:                      # or the ``twilio_fake`` pytest fixture
        fake.seed_number("+14155550100", voice_url="https://old.example/voice")
        client = fake.client()                      # a real twilio.rest.Client aimed at the fake
        ...
        assert fake.find_number("+14155550100")["voice_url"] == "https://new.example/voice"
        assert fake.requests[-1].method == "POST"

Failure injection: ``fake.fail_next(429, 20429, "Too Many Requests")`` makes the next matching
request fail with a Twilio error body (optionally only for a method / path fragment, N times).

Twilio's side of a call, signed with the account's auth token as Twilio signs webhooks:
``fake.ring(number)`` requests a number's voice URL (an inbound call), ``fake.answer(call_sid)``
fetches an outbound call's TwiML, ``fake.send_status_callback(call_sid, "completed")`` posts a
status callback (SequenceNumber counting up per call; extra form fields such as SipResponseCode
as keywords) and ``fake.send_amd_callback(call_sid, "machine_start")`` posts async AMD's result
to the call's AsyncAmdStatusCallback. ``tests.fakes.twilio_contract.contract_problems(fake.requests)`` checks every
request and response against Twilio's OpenAPI spec.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable

from .loopback import LoopbackServer
from .twilio_resources import (
    API_VERSION,
    call_resource,
    friendly_number,
    list_page,
    new_sid,
    now_rfc2822,
    number_resource,
    offer_resource,
    twilio_error,
)

DEFAULT_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2

__all__ = ["FakeTwilio", "RecordedRequest", "Failure", "twilio_error", "DEFAULT_ACCOUNT_SID"]


@dataclass
class RecordedRequest:
    """One request the fake received, as it arrived on the wire (the auth secret is never kept)."""

    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    form: dict[str, list[str]]
    headers: dict[str, str]
    username: str | None  # basic-auth user (account SID or API key SID); None if absent
    authorized: bool
    status: int = 0
    response: Any = None  # the JSON body sent back (None for 204)
    operation: str | None = None  # e.g. "POST IncomingPhoneNumbers/{Sid}"

    def param(self, name: str) -> str | None:
        """The single value of a form or query parameter, or None."""
        values = self.form.get(name) or self.query.get(name)
        return values[0] if values else None


@dataclass
class Failure:
    """A scripted failure for the next matching request(s)."""

    status: int
    code: int
    message: str
    method: str | None = None
    path_contains: str | None = None
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        return not self.path_contains or self.path_contains in path


class _ApiError(Exception):
    def __init__(self, status: int, code: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (m, re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/{p}$"), name)
    for m, p, name in [
        ("GET", r"IncomingPhoneNumbers\.json", "list_numbers"),
        ("POST", r"IncomingPhoneNumbers\.json", "create_number"),
        ("GET", r"IncomingPhoneNumbers/(?P<sid>[^/]+)\.json", "fetch_number"),
        ("POST", r"IncomingPhoneNumbers/(?P<sid>[^/]+)\.json", "update_number"),
        ("DELETE", r"IncomingPhoneNumbers/(?P<sid>[^/]+)\.json", "delete_number"),
        ("GET", r"AvailablePhoneNumbers/(?P<country>[A-Z]{2})/Local\.json", "list_available"),
        ("GET", r"Calls\.json", "list_calls"),
        ("POST", r"Calls\.json", "create_call"),
        ("GET", r"Calls/(?P<sid>[^/]+)\.json", "fetch_call"),
        ("POST", r"Calls/(?P<sid>[^/]+)\.json", "update_call"),
        ("DELETE", r"Calls/(?P<sid>[^/]+)\.json", "delete_call"),
    ]
]

# Form field (as sent) → resource field, for the parts of a number the fake keeps.
_NUMBER_FIELDS = {
    "FriendlyName": "friendly_name",
    "VoiceUrl": "voice_url",
    "VoiceMethod": "voice_method",
    "VoiceFallbackUrl": "voice_fallback_url",
    "VoiceFallbackMethod": "voice_fallback_method",
    "StatusCallback": "status_callback",
    "StatusCallbackMethod": "status_callback_method",
    "SmsUrl": "sms_url",
    "SmsMethod": "sms_method",
    "SmsFallbackUrl": "sms_fallback_url",
    "SmsFallbackMethod": "sms_fallback_method",
    "VoiceApplicationSid": "voice_application_sid",
    "SmsApplicationSid": "sms_application_sid",
    "TrunkSid": "trunk_sid",
    "ApiVersion": "api_version",
}
_METHODS = {"GET", "POST"}
_CALL_UPDATE_STATUSES = {"canceled", "completed"}


class FakeTwilio:
    """The fake account and its HTTP server. Thread-safe; all state is plain dicts under ``lock``.

    Attributes tests read directly:
      numbers    {PN sid: IncomingPhoneNumber JSON}   the account's numbers
      available  {country: [AvailablePhoneNumber JSON]} numbers that can be bought
      calls      {CA sid: Call JSON}
      call_params  {CA sid: the create form, one value per name (Url, Twiml, StatusCallback, …)}
      call_updates {CA sid: [each update form]}
      requests   [RecordedRequest], in arrival order
    """

    def __init__(
        self,
        *,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str | None = None,
        api_keys: dict[str, str] | None = None,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token or secrets.token_hex(16)
        self.api_keys: dict[str, str] = dict(api_keys or {})  # SK sid → secret
        self.lock = threading.RLock()
        self.numbers: dict[str, dict[str, Any]] = {}
        self.available: dict[str, list[dict[str, Any]]] = {}
        self.calls: dict[str, dict[str, Any]] = {}
        self.call_params: dict[str, dict[str, str]] = {}
        self.call_updates: dict[str, list[dict[str, str]]] = {}
        self.sequence: dict[str, int] = {}  # CA sid -> last status callback SequenceNumber
        self.requests: list[RecordedRequest] = []
        self.failures: list[Failure] = []
        self.on_call_created: Callable[[dict[str, Any], dict[str, str]], None] | None = None
        self._server: LoopbackServer | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "FakeTwilio":
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = LoopbackServer(Handler, "fake-twilio")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> "FakeTwilio":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "FakeTwilio is not started"
        return self._server.port

    @property
    def base_url(self) -> str:
        """What to give the SDK as ``client.api.base_url`` (or TWILIO_API_BASE_URL)."""
        return f"http://127.0.0.1:{self.port}"

    def client(self, username: str | None = None, password: str | None = None):
        """A real ``twilio.rest.Client`` with its api domain pointed at this fake."""
        from twilio.rest import Client

        client = Client(username or self.account_sid, password or self.auth_token, self.account_sid)
        client.api.base_url = self.base_url
        return client

    def env(self) -> dict[str, str]:
        """Environment variables that point cb's Twilio provider at this fake."""
        return {
            "TWILIO_ACCOUNT_SID": self.account_sid,
            "TWILIO_AUTH_TOKEN": self.auth_token,
            "TWILIO_API_BASE_URL": self.base_url,
        }

    def add_api_key(self) -> tuple[str, str]:
        """Create an API key (SK sid, secret) that may authenticate instead of the auth token."""
        sid, secret = new_sid("SK"), secrets.token_hex(16)
        with self.lock:
            self.api_keys[sid] = secret
        return sid, secret

    # ------------------------------------------------------------------ seeding and inspection

    def seed_number(
        self,
        phone_number: str,
        *,
        voice_url: str = "",
        voice_method: str = "POST",
        status_callback: str = "",
        friendly_name: str | None = None,
        sid: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Put a number into the account as if it had been bought earlier; returns its JSON."""
        resource = number_resource(self.account_sid, phone_number, sid=sid or new_sid("PN"))
        resource.update(
            voice_url=voice_url,
            voice_method=voice_method,
            status_callback=status_callback,
            friendly_name=friendly_name if friendly_name is not None else friendly_number(phone_number),
            **fields,
        )
        with self.lock:
            self.numbers[resource["sid"]] = resource
        return resource

    def add_available(self, phone_number: str, country: str = "US", **fields: Any) -> dict[str, Any]:
        """Offer a number for purchase in ``country`` (AvailablePhoneNumbers/{country}/Local)."""
        digits = phone_number.lstrip("+")
        offer = offer_resource(phone_number, country)
        offer.update(fields)
        offer["_digits"] = digits
        with self.lock:
            self.available.setdefault(country, []).append(offer)
        return offer

    def find_number(self, phone_number: str) -> dict[str, Any] | None:
        with self.lock:
            for resource in self.numbers.values():
                if resource["phone_number"] == phone_number:
                    return resource
        return None

    def fail_next(
        self,
        status: int = 500,
        code: int | None = None,
        message: str = "Internal Server Error",
        *,
        method: str | None = None,
        path_contains: str | None = None,
        times: int = 1,
        headers: dict[str, str] | None = None,
    ) -> Failure:
        """Make the next ``times`` requests matching method / path fragment fail with a Twilio error."""
        failure = Failure(status, code or 20000 + status, message, method, path_contains, times, dict(headers or {}))
        with self.lock:
            self.failures.append(failure)
        return failure

    def requests_for(self, operation: str) -> list[RecordedRequest]:
        """Requests routed to one operation, e.g. ``"POST IncomingPhoneNumbers/{Sid}"``."""
        with self.lock:
            return [r for r in self.requests if r.operation == operation]

    def set_call_status(self, sid: str, status: str, *, duration: int | None = None) -> dict[str, Any]:
        """Move a call along (ringing, in-progress, completed, busy, …) as the network would."""
        with self.lock:
            call = self.calls[sid]
            call["status"] = status
            call["date_updated"] = now_rfc2822()
            if status == "in-progress" and not call["start_time"]:
                call["start_time"] = now_rfc2822()
            if status in {"completed", "busy", "failed", "no-answer", "canceled"}:
                call["end_time"] = now_rfc2822()
                call["duration"] = str(duration if duration is not None else 0)
            return dict(call)

    def ring(self, to: str, from_: str = "+15005550006", *, timeout: float = 10.0):
        """An inbound call to one of the account's numbers, as Twilio starts it.

        Records a ringing inbound call and requests the number's voice URL with its voice method,
        signed, exactly as Twilio would. Returns (call sid, (http status, headers, body)); the
        body is the TwiML the application answered with.
        """
        from .twilio_signing import send_signed, voice_webhook_params

        number = self.find_number(to)
        if number is None or not number.get("voice_url"):
            raise AssertionError(f"FakeTwilio.ring: {to} is not in the account or has no voice_url")
        sid = self._record_call(to=to, from_=from_, direction="inbound", status="ringing", held=number)
        params = voice_webhook_params(account_sid=self.account_sid, to=to, from_=from_, call_sid=sid)
        return sid, send_signed(number["voice_method"] or "POST", number["voice_url"], params, self.auth_token,
                                timeout=timeout)

    def answer(self, sid: str, *, timeout: float = 10.0):
        """An outbound call (made through Calls create) is answered: Twilio fetches its TwiML.

        Moves the call to in-progress and requests its Url with its Method, signed. Returns
        (http status, headers, body); when the call was created with inline Twiml, returns
        (200, {}, that TwiML) without a request, as Twilio needs none.
        """
        from .twilio_signing import send_signed, voice_webhook_params

        call = self.set_call_status(sid, "in-progress")
        params = self.call_params.get(sid, {})
        if params.get("Twiml"):
            return 200, {}, params["Twiml"].encode()
        webhook = voice_webhook_params(account_sid=self.account_sid, to=call["to"], from_=call["from"], call_sid=sid,
                                       call_status="in-progress", direction="outbound-api")
        return send_signed(params.get("Method", "POST"), params["Url"], webhook, self.auth_token, timeout=timeout)

    def send_status_callback(self, sid: str, status: str, *, duration: int | None = None, timeout: float = 10.0,
                             **extra: str):
        """Set the call's status and POST a signed status callback to its StatusCallback URL.

        Returns (http status, headers, body) from the receiving server, or None when the call was
        created without a StatusCallback.
        """
        from .twilio_signing import post_signed, status_callback_params

        call = self.set_call_status(sid, status, duration=duration)
        url = self.call_params.get(sid, {}).get("StatusCallback")
        if not url:
            return None
        params = status_callback_params(
            account_sid=self.account_sid,
            call_sid=sid,
            to=call["to"],
            from_=call["from"],
            call_status=status,
            direction=call["direction"],
            duration=duration if status == "completed" else None,
            sequence_number=self._next_sequence(sid),
            **extra,  # e.g. SipResponseCode="486", ErrorCode
        )
        return post_signed(url, params, self.auth_token, timeout=timeout)

    def _next_sequence(self, sid: str) -> int:
        with self.lock:
            self.sequence[sid] = self.sequence.get(sid, -1) + 1
            return self.sequence[sid]

    def send_amd_callback(self, sid: str, answered_by: str, *, duration_ms: int = 2400, timeout: float = 10.0):
        """Async answering-machine detection's result: POST a signed callback to the call's
        AsyncAmdStatusCallback (CallSid, AccountSid, AnsweredBy, MachineDetectionDuration) and set the
        call's answered_by. None when the call was created without one."""
        from .twilio_signing import post_signed

        with self.lock:
            self.calls[sid]["answered_by"] = answered_by
        url = self.call_params.get(sid, {}).get("AsyncAmdStatusCallback")
        if not url:
            return None
        params = {"CallSid": sid, "AccountSid": self.account_sid, "AnsweredBy": answered_by,
                  "MachineDetectionDuration": str(duration_ms)}
        return post_signed(url, params, self.auth_token, timeout=timeout)

    # ------------------------------------------------------------------ request handling

    def _authorized(self, header: str | None) -> tuple[str | None, bool]:
        if not header or not header.startswith("Basic "):
            return None, False
        try:
            user, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None, False
        if user == self.account_sid:
            return user, secrets.compare_digest(secret, self.auth_token)
        expected = self.api_keys.get(user)
        return user, expected is not None and secrets.compare_digest(secret, expected)

    def _take_failure(self, method: str, path: str) -> Failure | None:
        with self.lock:
            for failure in self.failures:
                if failure.matches(method, path):
                    failure.times -= 1
                    if failure.times <= 0:
                        self.failures.remove(failure)
                    return failure
        return None

    def handle(self, record: RecordedRequest) -> tuple[int, Any, dict[str, str]]:
        """Route one request; returns (status, JSON body or None, extra headers)."""
        try:
            if not record.authorized:
                raise _ApiError(401, 20003, "Authenticate", {"WWW-Authenticate": 'Basic realm="Twilio API"'})
            failure = self._take_failure(record.method, record.path)
            if failure:
                raise _ApiError(failure.status, failure.code, failure.message, failure.headers)
            for method, pattern, name in _ROUTES:
                match = pattern.match(record.path)
                if match and method == record.method:
                    record.operation = f"{method} {_operation_path(pattern)}"
                    args = match.groupdict()
                    if args.pop("account") != self.account_sid:
                        raise _ApiError(404, 20404, f"The requested resource {record.path} was not found")
                    with self.lock:
                        status, body = getattr(self, "_op_" + name)(record, **args)
                    return status, body, {}
            raise _ApiError(404, 20404, f"The requested resource {record.path} was not found")
        except _ApiError as error:
            return error.status, twilio_error(error.status, error.code, error.message), error.headers
        except Exception as error:  # a bug in the fake: answer like Twilio would, never hang the client
            return 500, twilio_error(500, 20500, f"Internal Server Error ({type(error).__name__}: {error})"), {}

    # ------------------------------------------------------------------ operations: numbers

    def _apply_number_form(self, resource: dict[str, Any], form: dict[str, str]) -> None:
        for name, value in form.items():
            key = _NUMBER_FIELDS.get(name)
            if key is None:
                continue
            if key.endswith("_method"):
                value = value.upper()
                if value not in _METHODS:
                    raise _ApiError(400, 21403, f"{name} must be GET or POST, not {value!r}")
            elif key.endswith("_url") or key == "status_callback":
                if value and not re.match(r"^https?://", value):
                    raise _ApiError(400, 21502, f"{name} is not a valid URL: {value!r}")
            resource[key] = value
        resource["date_updated"] = now_rfc2822()

    def _op_list_numbers(self, record: RecordedRequest) -> tuple[int, Any]:
        wanted = record.param("PhoneNumber")
        name = record.param("FriendlyName")
        rows = [
            r
            for r in self.numbers.values()
            if (not wanted or _number_matches(r["phone_number"], wanted)) and (not name or r["friendly_name"] == name)
        ]
        return 200, _page(record, "incoming_phone_numbers", rows)

    def _op_create_number(self, record: RecordedRequest) -> tuple[int, Any]:
        form = _single(record.form)
        number = form.get("PhoneNumber")
        area = form.get("AreaCode")
        if not number and not area:
            raise _ApiError(400, 21450, "PhoneNumber or AreaCode is required")
        offers = [o for country in self.available.values() for o in country]
        if number:
            offer = next((o for o in offers if o["phone_number"] == number), None)
        else:
            offer = next((o for o in offers if o["_digits"][1:4] == area), None)
        if offer is None:
            if number:
                raise _ApiError(400, 21422, f"Phone number {number} is not available.")
            raise _ApiError(400, 21452, f"No phone numbers found in area code {area}.")
        for country in self.available.values():
            if offer in country:
                country.remove(offer)
        resource = number_resource(self.account_sid, offer["phone_number"], new_sid("PN"))
        self._apply_number_form(resource, form)
        self.numbers[resource["sid"]] = resource
        return 201, resource

    def _number(self, record: RecordedRequest, sid: str) -> dict[str, Any]:
        resource = self.numbers.get(sid)
        if resource is None:
            raise _ApiError(404, 20404, f"The requested resource {record.path} was not found")
        return resource

    def _op_fetch_number(self, record: RecordedRequest, sid: str) -> tuple[int, Any]:
        return 200, self._number(record, sid)

    def _op_update_number(self, record: RecordedRequest, sid: str) -> tuple[int, Any]:
        resource = self._number(record, sid)
        updated = dict(resource)
        self._apply_number_form(updated, _single(record.form))
        self.numbers[sid] = updated
        return 200, updated

    def _op_delete_number(self, record: RecordedRequest, sid: str) -> tuple[int, Any]:
        self._number(record, sid)
        del self.numbers[sid]
        return 204, None

    def _op_list_available(self, record: RecordedRequest, country: str) -> tuple[int, Any]:
        contains = record.param("Contains")
        area = record.param("AreaCode")
        if contains is not None and not re.fullmatch(r"[0-9A-Za-z*]{2,}", contains):
            raise _ApiError(400, 20001, "Contains must be at least two characters from 0-9, a-z, A-Z and *")
        voice = record.param("VoiceEnabled")
        rows = []
        for offer in self.available.get(country, []):
            if voice is not None and offer["capabilities"].get("voice") != (voice == "true"):
                continue
            if contains and not _contains(offer["phone_number"], contains):
                continue
            if area and offer["_digits"][1:4] != area:
                continue
            rows.append({k: v for k, v in offer.items() if not k.startswith("_")})
        body = _page(record, "available_phone_numbers", rows)
        # Twilio's AvailablePhoneNumbers lists carry only `uri` and the rows, no paging fields.
        return 200, {"available_phone_numbers": body["available_phone_numbers"], "uri": body["uri"]}

    # ------------------------------------------------------------------ operations: calls

    def _op_create_call(self, record: RecordedRequest) -> tuple[int, Any]:
        form = _single(record.form)
        to, from_ = form.get("To"), form.get("From")
        if not to:
            raise _ApiError(400, 21201, "No 'To' number is specified")
        if not from_:
            raise _ApiError(400, 21603, "A 'From' phone number is required.")
        if not (form.get("Url") or form.get("Twiml") or form.get("ApplicationSid")):
            raise _ApiError(400, 21205, "Url parameter is required.")
        held = next((r for r in self.numbers.values() if r["phone_number"] == from_), None)
        if held is None and not from_.startswith(("client:", "sip:")):
            raise _ApiError(400, 21210, f"The source phone number provided, {from_}, is not yet verified for your account.")
        sid = self._record_call(to=to, from_=from_, direction="outbound-api", status="queued", held=held)
        self.call_params[sid] = form
        if self.on_call_created is not None:
            self.on_call_created(self.calls[sid], form)
        return 201, self.calls[sid]

    def _record_call(self, *, to: str, from_: str, direction: str, status: str, held: dict[str, Any] | None) -> str:
        sid = new_sid("CA")
        call = call_resource(self.account_sid, sid, to=to, from_=from_, direction=direction, status=status,
                             phone_number_sid=held["sid"] if held else None)
        with self.lock:
            self.calls[sid] = call
            self.call_params[sid] = {}
            self.call_updates[sid] = []
        return sid

    def _call(self, record: RecordedRequest, sid: str) -> dict[str, Any]:
        call = self.calls.get(sid)
        if call is None:
            raise _ApiError(404, 20404, f"The requested resource {record.path} was not found")
        return call

    def _op_fetch_call(self, record: RecordedRequest, sid: str) -> tuple[int, Any]:
        return 200, self._call(record, sid)

    def _op_update_call(self, record: RecordedRequest, sid: str) -> tuple[int, Any]:
        call = self._call(record, sid)
        form = _single(record.form)
        status = form.get("Status")
        if status is not None:
            if status not in _CALL_UPDATE_STATUSES:
                raise _ApiError(400, 20001, f"Status must be canceled or completed, not {status!r}")
            if call["status"] in {"completed", "busy", "failed", "no-answer", "canceled"}:
                raise _ApiError(400, 21220, "Call is not in-progress. Cannot redirect.")
            self.set_call_status(sid, status)
        elif form.get("Url") or form.get("Twiml"):
            if call["status"] not in {"queued", "ringing", "in-progress"}:
                raise _ApiError(400, 21220, "Call is not in-progress. Cannot redirect.")
        self.call_updates[sid].append(form)
        call["date_updated"] = now_rfc2822()
        return 200, call

    def _op_delete_call(self, record: RecordedRequest, sid: str) -> tuple[int, Any]:
        self._call(record, sid)
        del self.calls[sid]
        return 204, None

    def _op_list_calls(self, record: RecordedRequest) -> tuple[int, Any]:
        filters = {"to": record.param("To"), "from": record.param("From"), "status": record.param("Status")}
        rows = [c for c in self.calls.values() if all(not v or c[k] == v for k, v in filters.items())]
        return 200, _page(record, "calls", rows)


# ---------------------------------------------------------------------- helpers


def _operation_path(pattern: re.Pattern[str]) -> str:
    """`IncomingPhoneNumbers/{Sid}` from the route regex, for request logs."""
    text = pattern.pattern.split("/(?P<account>[^/]+)/", 1)[1].rstrip("$")
    text = re.sub(r"\(\?P<(\w)(\w*)>[^)]*\)", lambda m: "{" + m.group(1).upper() + m.group(2) + "}", text)
    text = text.replace("{Country}", "{CountryCode}")
    return text.replace("\\.json", "")


def _single(form: dict[str, list[str]]) -> dict[str, str]:
    return {k: v[-1] for k, v in form.items()}


def _number_matches(number: str, pattern: str) -> bool:
    """Twilio's PhoneNumber filter: partial numbers, '*' a wildcard for one digit."""
    regex = re.escape(pattern.strip()).replace(r"\*", r"\d")
    return re.search(regex, number) is not None


_KEYPAD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "22233344455566677778889999")


def _contains(number: str, pattern: str) -> bool:
    """AvailablePhoneNumbers Contains: digits, letters (keypad digits) and '*' for any one digit."""
    needle = pattern.upper().translate(_KEYPAD)
    regex = re.escape(needle).replace(r"\*", r"\d")
    return re.search(regex, number.lstrip("+")) is not None


def _page(record: RecordedRequest, key: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One list page for this request's PageSize / Page, or Twilio's 400 for bad paging values."""
    try:
        size = int(record.param("PageSize") or 50)
        page = int(record.param("Page") or 0)
    except ValueError:
        raise _ApiError(400, 20001, "Invalid paging parameters: PageSize and Page must be integers") from None
    if not 1 <= size <= 1000 or page < 0:
        raise _ApiError(400, 20001, "PageSize must be between 1 and 1000, Page at least 0")
    keep = {k: v[0] for k, v in record.query.items() if k not in {"Page", "PageSize", "PageToken"}}
    return list_page(record.path, keep, key, rows, size=size, page=page)


class _Handler(BaseHTTPRequestHandler):
    owner: FakeTwilio
    protocol_version = "HTTP/1.1"
    server_version = "FakeTwilio/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet: the fake's request log is ``owner.requests``."""

    def _serve(self) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        form: dict[str, list[str]] = {}
        if raw:
            form = urllib.parse.parse_qs(raw.decode("utf-8"), keep_blank_values=True)
        fake = self.owner
        username, authorized = fake._authorized(self.headers.get("Authorization"))
        headers = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
        record = RecordedRequest(
            method=self.command,
            path=parsed.path,
            query=urllib.parse.parse_qs(parsed.query, keep_blank_values=True),
            form=form,
            headers=headers,
            username=username,
            authorized=authorized,
        )
        status, body, extra = fake.handle(record)
        record.status, record.response = status, body
        with fake.lock:
            fake.requests.append(record)
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Twilio-Request-Id", new_sid("RQ"))
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_DELETE = _serve
