"""``SipDialer``: outbound calls from a ``provider: sip`` Number, placed with aiosipua's UAC.

Found through the ``cb.dialers`` entry point ``sip``. The INVITE leaves from the listener of the
calling Number's trunk (the same UDP socket that answers, so the callee's BYE and responses come
back to it) and goes to the trunk's ``options.proxy``; without one there is nowhere to send it and
the call is refused (``DialError``). The offer is G.711 (PCMU, PCMA) with RFC 4733 events on our
own paced RTP. As the call moves the runner's status URL is posted exactly as Twilio posts it:
``initiated``, ``ringing`` on 180/183, ``in-progress`` on 200 (then ACK, the voice URL's
``<Connect><Stream>`` and the same bridge as an inbound call), ``completed`` after a BYE either
way; a final 4xx-6xx becomes ``busy`` (486, 600, 603), ``no-answer`` (408, 480, 487) or
``failed``, with ``SipResponseCode``. The runner's hang-up before the answer is a CANCEL.
There is no carrier to detect answering machines (``carrier_amd = False``): the runner's own
detector screens the call, as on the local provider.
"""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
from typing import Any

import httpx

from cb.contracts.voice_webhook_auth import sign
from cb.providers.dialer import Dial, DialError, DialerSettings, Placed

from .gateway import CODECS, Listener, SipCall, SipGateway
from .rtp import RtpStream

BUSY, NO_ANSWER = (486, 600, 603), (408, 480, 487)


class SipDialer:
    name = "sip"
    carrier_amd = False

    def __init__(self, settings: DialerSettings):
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: DialerSettings) -> "SipDialer":
        return cls(settings)

    def _listener(self, number: str) -> tuple[SipGateway, Listener]:
        gateway = SipGateway._shared
        for listener in (gateway.listeners.values() if gateway else []):
            if number in listener.trunks:
                return gateway, listener  # type: ignore[return-value]
        raise DialError(f"no SIP trunk is listening for {number}: the runner could not bind its options.listen")

    def place(self, dial: Dial) -> Placed:
        if not self.settings.local_token:
            raise DialError("the runner has no local webhook token to sign the SIP call's callbacks")
        gateway, listener = self._listener(dial.from_)
        trunk = listener.trunks[dial.from_]
        if trunk.proxy is None:
            raise DialError(f"the SIP Number {dial.from_} declares no options.proxy: there is nowhere to send "
                            "the INVITE (add options.proxy: HOST:PORT, the trunk's outbound proxy)")
        call = OutboundSip(dial, self.settings.local_token, listener)
        return Placed(gateway._run(call.invite()), "queued")

    def hang_up(self, provider_call_id: str, *, answered: bool) -> None:
        gateway = SipGateway._shared
        for listener in (gateway.listeners.values() if gateway else []):
            call = listener.calls.get(provider_call_id)
            if call is not None:
                gateway.loop.call_soon_threadsafe(listener.hang_up, call, "agent")


class OutboundSip:
    """One outbound call, from INVITE to its final status, on the gateway's loop."""

    def __init__(self, dial: Dial, token: str, listener: Listener):
        self.dial, self.token, self.listener = dial, token, listener
        self.trunk = listener.trunks[dial.from_]
        self.sequence = 0

    async def _status(self, status: str, **extra: str) -> None:
        form = {"CallSid": self.sip_id[:200], "AccountSid": "sip", "From": self.dial.from_, "To": self.dial.to,
                "CallStatus": status, "Direction": "outbound-api", "ApiVersion": "2010-04-01",
                "SequenceNumber": str(self.sequence), **extra}
        self.sequence += 1
        async with httpx.AsyncClient(timeout=30) as client:
            await client.post(self.dial.status_url, data=form,
                              headers={"X-Twilio-Signature": sign(self.dial.status_url, form, self.token)})

    async def invite(self) -> str:
        from aiosipua.sdp_negotiate import build_sdp

        host, port = self.listener.address
        proxy = self.trunk.proxy
        assert proxy is not None
        loop = asyncio.get_running_loop()
        self.call = call = SipCall(None, self.trunk, self.dial.from_, caller=self.dial.to)
        call.rtp = RtpStream(host, 0, dtmf_type=101,
                             on_audio=lambda ulaw: loop.call_soon_threadsafe(call.inbound.put_nowait, ("audio", ulaw)),
                             on_dtmf=lambda digit: loop.call_soon_threadsafe(call.inbound.put_nowait, ("dtmf", digit)))
        offer = build_sdp(host, call.rtp.port, 0, "PCMU", dtmf_payload_type=101)
        self.outgoing = self.listener.uac.send_invite(
            f"sip:{self.dial.from_}@{host}:{port}", f"sip:{self.dial.to}@{proxy[0]}:{proxy[1]}", proxy, offer,
            user_agent="cb")
        self.sip_id = call.sip_id = self.outgoing.call_id
        call.outgoing = self.outgoing
        self.listener.calls[self.sip_id] = call
        self.outgoing.on_ringing = lambda _: loop.create_task(self._status("ringing"))
        loop.create_task(self.run())
        return self.sip_id

    async def run(self) -> None:
        call, outgoing = self.call, self.outgoing
        try:
            await self._status("initiated")
            answered = asyncio.ensure_future(outgoing.wait_answered(self.dial.ring_timeout_sec))
            ended = asyncio.ensure_future(call.ended.wait())
            await asyncio.wait([answered, ended], return_when=asyncio.FIRST_COMPLETED)
            if not answered.done():  # the runner hung up while it rang
                answered.cancel()
                outgoing.cancel(self.listener.uac)
                call.status = 487
                await self._status("canceled", SipResponseCode="487")
                return
            ended.cancel()
            if answered.exception() is not None:
                code = outgoing._reject_code or 408
                if not outgoing._reject_code:
                    outgoing.cancel(self.listener.uac)
                call.status = code
                state = "busy" if code in BUSY else "no-answer" if code in NO_ANSWER else "failed"
                await self._status(state, SipResponseCode=str(code))
                return
            await self.answered()
        finally:
            self.listener.calls.pop(self.sip_id, None)
            if call.rtp is not None:
                await asyncio.to_thread(call.rtp.stop)

    async def answered(self) -> None:
        call, outgoing = self.call, self.outgoing
        call.status = 200
        answer = outgoing.sdp_answer
        codecs = [c.payload_type for c in (answer.audio.codecs if answer and answer.audio else [])]
        if answer is None or answer.rtp_address is None or not any(pt in CODECS for pt in codecs):
            call.by = "agent"
            outgoing.hangup(self.listener.uac)
            await self._status("failed", SipResponseCode="488")
            return
        payload_type = next(pt for pt in codecs if pt in CODECS)
        call.codec = CODECS[payload_type]
        call.rtp.payload_type, call.rtp.alaw = payload_type, payload_type == 8  # type: ignore[union-attr]
        call.rtp.start(answer.rtp_address, self.trunk.proxy[0])  # type: ignore[union-attr,index]
        started = time.monotonic()
        await self._status("in-progress", SipResponseCode="200")
        target = await self._voice()
        if target is not None:
            await self.listener.gateway.bridge(call, *target)
        self.listener.hang_up(call, call.by or "agent")
        await self._status("completed", CallDuration=str(round(time.monotonic() - started)), SipResponseCode="200")

    async def _voice(self) -> tuple[str, dict[str, str]] | None:
        """The runner's TwiML for the answered call: its Media Streams URL and parameters."""
        form = {"CallSid": self.sip_id[:200], "AccountSid": "sip", "From": self.dial.from_, "To": self.dial.to,
                "Direction": "outbound-api", "CallStatus": "in-progress", "ApiVersion": "2010-04-01",
                "SipCallId": self.sip_id[:200], "SipCodec": self.call.codec or "",
                "SipRemote": f"{self.dial.to}@{self.trunk.proxy[0]}:{self.trunk.proxy[1]}"}  # type: ignore[index]
        url = self.dial.voice_url
        async with httpx.AsyncClient(timeout=30) as client:
            resp = await client.post(url, data=form, headers={"X-Twilio-Signature": sign(url, form, self.token)})
        if resp.status_code != 200:
            return None
        stream = ET.fromstring(resp.text).find("./Connect/Stream")
        if stream is None:
            return None
        return stream.get("url", ""), {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
