"""``TwilioDialer``: outbound calls through Twilio's Calls API, with the real ``twilio`` SDK.

Found through the ``cb.dialers`` entry point ``twilio``. ``place`` creates the call with the
runner's signed voice URL (fetched when the callee answers), a status callback for every event
(initiated, ringing, answered, completed) and, when the agent has a voicemail policy, async
answering-machine detection: ``DetectMessageEnd`` to leave a message (a person is reported at
once, a machine at the end of its greeting), ``Enable`` to hang up on one. ``hang_up`` cancels a
call that has not been answered and completes one that has. A refusal is a ``DialError`` with
Twilio's own code and message (e.g. 21215, geographic permissions), which the call record keeps.

Credentials and the API root come from the runner's environment (TWILIO_ACCOUNT_SID with
TWILIO_AUTH_TOKEN or TWILIO_API_KEY/TWILIO_API_SECRET; TWILIO_API_BASE_URL for tests), as for
the number provider.
"""

from __future__ import annotations

from typing import Any

from cb.providers.base import ProviderError
from cb.providers.dialer import Dial, DialError, DialerSettings, Placed

from .errors import failure_of, provider_error
from .numbers import TwilioNumbers

STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]


class TwilioDialer:
    name = "twilio"
    carrier_amd = True

    def __init__(self, settings: DialerSettings):
        self.settings = settings
        self._numbers = TwilioNumbers(environ=dict(settings.environ) if settings.environ else None)

    @classmethod
    def from_settings(cls, settings: DialerSettings) -> "TwilioDialer":
        return cls(settings)

    @property
    def client(self) -> Any:
        return self._numbers.client

    def _refused(self, exc: BaseException, doing: str) -> DialError:
        failure = failure_of(exc)
        creds = self._numbers._creds()
        message = str(provider_error(exc, doing, base_url=self._numbers.api_base_url, account_sid=creds.account_sid))
        message = creds.redact(message)
        if failure is None:
            return DialError(message)
        return DialError(message, code=failure.code, provider_message=creds.redact(failure.message),
                         status=failure.status)

    def place(self, dial: Dial) -> Placed:
        params: dict[str, Any] = dict(
            to=dial.to, from_=dial.from_, url=dial.voice_url, method="POST",
            status_callback=dial.status_url, status_callback_event=STATUS_EVENTS, status_callback_method="POST",
            timeout=dial.ring_timeout_sec)
        if dial.time_limit_sec:
            params["time_limit"] = dial.time_limit_sec
        if dial.machine_detection and dial.amd_url:
            params.update(machine_detection=dial.machine_detection, async_amd="true",
                          async_amd_status_callback=dial.amd_url, async_amd_status_callback_method="POST")
        try:
            call = self.client.calls.create(**params)
        except ProviderError as exc:
            raise DialError(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - TwilioRestException, network errors
            raise self._refused(exc, f"call {dial.to} from {dial.from_}") from None
        return Placed(call.sid, call.status or "queued")

    def hang_up(self, provider_call_id: str, *, answered: bool) -> None:
        try:
            self.client.calls(provider_call_id).update(status="completed" if answered else "canceled")
        except Exception as exc:  # noqa: BLE001
            raise self._refused(exc, f"hang up {provider_call_id}") from None
