"""``LocalDialer``: outbound calls on the local provider, answered by a simulated callee.

Found through the ``cb.dialers`` entry point ``local``. Each call runs in a thread of its own
with its own event loop (the callee keeps Twilio's 20 ms pacing whatever the runner's loop does):
status callbacks, then the callee (callee.py) on the runner's voice URL and Media Streams, then
``completed``. There is no carrier here to detect answering machines (``carrier_amd = False``):
the runner's own detector decides, exactly as it will on SIP.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import httpx

from cb.contracts.outbound_call import SimulatedCallee
from cb.contracts.voice_webhook_auth import sign
from cb.providers.dialer import Dial, DialError, DialerSettings, Placed

ACCOUNT_SID = "AC" + "0" * 32
SIP_CODES = {"busy": 486, "no-answer": 487, "failed": 404, "completed": 200}


class LocalCall:
    """One call on the simulated network, run by ``run`` in its own thread."""

    def __init__(self, dial: Dial, token: str, base_url: str):
        self.dial, self.token, self.base_url = dial, token, base_url
        self.sid = "CA" + uuid.uuid4().hex
        self.callee = SimulatedCallee.model_validate(dial.callee or {})
        self.loop: asyncio.AbstractEventLoop | None = None
        self.peer: Any = None
        self.hangup = threading.Event()
        self.sequence = 0
        self.error: str | None = None

    async def _status(self, client: httpx.AsyncClient, status: str, **extra: str) -> None:
        form = {"CallSid": self.sid, "AccountSid": ACCOUNT_SID, "From": self.dial.from_, "To": self.dial.to,
                "CallStatus": status, "Direction": "outbound-api", "ApiVersion": "2010-04-01",
                "SequenceNumber": str(self.sequence), "CallbackSource": "call-progress-events", **extra}
        self.sequence += 1
        await client.post(self.dial.status_url, data=form,
                          headers={"X-Twilio-Signature": sign(self.dial.status_url, form, self.token)})

    async def _ring(self) -> bool:
        """Ring for answer_after_ms; False when hung up meanwhile."""
        end = time.monotonic() + self.callee.answer_after_ms / 1000
        while time.monotonic() < end:
            if self.hangup.is_set():
                return False
            await asyncio.sleep(0.02)
        return not self.hangup.is_set()

    async def main(self) -> None:
        from .callee import AnsweringMachine, Person, person_lines

        self.loop = asyncio.get_running_loop()
        callee = self.callee
        async with httpx.AsyncClient(timeout=30) as client:
            await self._status(client, "initiated")
            await self._status(client, "ringing")
            if callee.machine is not None:
                peer = AnsweringMachine(self.base_url, self.token, machine=callee.machine.model_dump(),
                                        to_number=self.dial.to, from_number=self.dial.from_,
                                        query={"call": self.dial.call_id})
                await peer.prepare()
            else:
                lines = [line if isinstance(line, str) else line.model_dump() for line in callee.lines]
                peer = Person(self.base_url, self.token, to_number=self.dial.to, from_number=self.dial.from_,
                              lines=person_lines(lines))
                peer.query = {"call": self.dial.call_id}
            peer.call_sid = self.sid
            self.peer = peer
            if not await self._ring():
                await self._status(client, "canceled")
                return
            if callee.outcome != "answer":
                await self._status(client, callee.outcome, SipResponseCode=str(SIP_CODES[callee.outcome]))
                return
            await self._status(client, "in-progress")
            answered = time.monotonic()
            watcher = asyncio.create_task(self._watch_hangup(peer))
            try:
                await peer.call()
            finally:
                watcher.cancel()
            await self._status(client, "completed", CallDuration=str(round(time.monotonic() - answered)),
                               SipResponseCode="200")

    async def _watch_hangup(self, peer: Any) -> None:
        while not self.hangup.is_set():
            await asyncio.sleep(0.05)
        peer.closed.set()

    def run(self) -> None:
        try:
            asyncio.run(self.main())
        except Exception as exc:  # noqa: BLE001 - the runner sees a call that never reached its end
            self.error = f"{type(exc).__name__}: {exc}"


class LocalDialer:
    name = "local"
    carrier_amd = False

    def __init__(self, settings: DialerSettings):
        self.settings = settings
        self.calls: dict[str, LocalCall] = {}

    @classmethod
    def from_settings(cls, settings: DialerSettings) -> "LocalDialer":
        return cls(settings)

    def place(self, dial: Dial) -> Placed:
        if not self.settings.local_token:
            raise DialError("the runner has no local webhook token: the local network cannot sign its callbacks")
        call = LocalCall(dial, self.settings.local_token, self.settings.public_base_url)
        self.calls[call.sid] = call
        threading.Thread(target=call.run, name=f"cb-local-callee-{dial.call_id}", daemon=True).start()
        return Placed(call.sid, "queued")

    def hang_up(self, provider_call_id: str, *, answered: bool) -> None:
        call = self.calls.get(provider_call_id)
        if call is not None:
            call.hangup.set()
