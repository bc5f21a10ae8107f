"""transfer_call on Twilio: redirect the live call to TwiML ``<Dial>`` through the REST API.

Updating a call with new TwiML ends its ``<Connect><Stream>`` (the media WebSocket closes) and
Twilio dials the target, bridging the caller. The twilio SDK is synchronous, so the request runs
in a thread to keep the call path's event loop free.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Mapping

from twilio.twiml.voice_response import VoiceResponse


def dial_twiml(to: str, caller_id: str | None = None, timeout_sec: int | None = None) -> str:
    response = VoiceResponse()
    dial = response.dial(caller_id=caller_id, timeout=timeout_sec)
    dial.number(to)
    return str(response)


class TwilioTransfer:
    """``await TwilioTransfer(client, call_sid)(to)`` moves the caller to ``to``."""

    def __init__(self, client: Any, call_sid: str, caller_id: str | None = None):
        self.client, self.call_sid, self.caller_id = client, call_sid, caller_id

    @classmethod
    def from_env(cls, call_sid: str, env: Mapping[str, str] = os.environ, caller_id: str | None = None) -> "TwilioTransfer":
        """TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN, and TWILIO_API_BASE_URL for a local fake."""
        from twilio.rest import Client

        client = Client(env["TWILIO_ACCOUNT_SID"], env["TWILIO_AUTH_TOKEN"])
        if env.get("TWILIO_API_BASE_URL"):
            client.api.base_url = env["TWILIO_API_BASE_URL"]
        return cls(client, call_sid, caller_id)

    async def __call__(self, to: str) -> None:
        twiml = dial_twiml(to, self.caller_id)
        await asyncio.to_thread(lambda: self.client.calls(self.call_sid).update(twiml=twiml))
