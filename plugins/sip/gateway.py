"""``SipGateway``: answer INVITEs on the declared trunks and bridge each call onto the runner's Media Streams.

Library: aiosipua (MIT, asyncio, Python >= 3.11, no dependencies) speaks RFC 3261: parsing with
size caps and required-header checks (400), transactions, 100 Trying, the 200 OK retransmitted
until ACK, CANCEL (200 + 487), BYE, dialogs; and SDP offer/answer (RFC 3264). RTP is ours
(``rtp``): one thread per call paces G.711 on an absolute clock, so media timing never waits for
an event loop. Why not the others: pjsua2 and pyVoIP are GPL (cb is Apache-2.0), ``voip`` is
AGPL and needs Python >= 3.14, aiortc speaks WebRTC (ICE + DTLS-SRTP), not plain RTP; aiortp
(aiosipua's RTP companion, MIT) paces on the asyncio loop it shares with signalling.

The gateway runs its own event loop in its own thread. An INVITE is checked in this order: a
source not in ``options.allow`` -> 403; a called number no trunk on this address declares ->
404; no SDP offer, or one without PCMU/PCMA -> 488. Then the runner's voice webhook is posted,
signed with the local token, exactly as Twilio would post it (CallSid = the SIP Call-ID, From =
the caller); its TwiML decides: ``<Connect><Stream>`` -> 200 OK with our SDP answer and the
Media Streams WebSocket; ``<Reject>`` -> 486 Busy Here at capacity, 480 Temporarily Unavailable
while the runner drains; "not in service" -> 404. Audio flows RTP <-> ``media`` events, RFC 4733
digits become ``dtmf`` events, ``clear`` empties the RTP queue (barge-in); a BYE from the caller
sends ``stop``, the runner closing the stream sends a BYE.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Mapping

import httpx

from cb.contracts.voice_webhook_auth import sign
from cb.providers.base import ProviderError
from cb.providers.transport import TransportSettings

from .rtp import RtpStream
from .trunk import Trunk, TrunkError, problems, trunk

log = logging.getLogger("cb.plugins.sip")

CODECS = {0: "PCMU", 8: "PCMA"}
MEDIA = ('{"event": "media", "sequenceNumber": "%d", "streamSid": "%s", "media": '
         '{"track": "inbound", "chunk": "%d", "timestamp": "%d", "payload": "%s"}}')


@dataclass
class SipCall:
    """One answered (or answering) call: its SIP side, its RTP, its stream to the runner."""

    incoming: Any  # aiosipua's IncomingCall; None for a call we placed (``outgoing``)
    trunk: Trunk
    number: str
    caller: str
    rtp: RtpStream | None = None
    codec: str | None = None
    call_id: str | None = None  # cb's id, once the runner admitted it
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    inbound: asyncio.Queue = field(default_factory=asyncio.Queue)
    by: str | None = None  # who hung up: "caller" or "agent"
    sip_id: str = ""  # the SIP Call-ID
    outgoing: Any = None  # aiosipua's OutgoingCall (plugins/sip/dialer.py)
    status: int | None = None  # the final SIP status of the INVITE
    remote: str = ""  # the far end, user@host:port (the record's remote_party)


class Listener:
    """One UDP address and the trunks (Numbers) reached through it."""

    def __init__(self, gateway: "SipGateway", address: tuple[str, int]):
        self.gateway, self.address = gateway, address
        self.trunks: dict[str, Trunk] = {}
        self.calls: dict[str, SipCall] = {}
        self.uas: Any = None
        self.uac: Any = None  # places outbound INVITEs from the same socket (dialer.py)

    async def start(self) -> None:
        from aiosipua import SipUAC, SipUAS
        from aiosipua.transport import UdpSipTransport

        from .malformed import answer_unparseable

        transport = UdpSipTransport(local_addr=self.address)
        answer_unparseable(transport)
        self.uac = SipUAC(transport)
        self.uas = SipUAS(transport, user_agent="cb", uac=self.uac)
        self.uas.on_invite = lambda call: asyncio.get_running_loop().create_task(self.invite(call))
        self.uas.on_bye = self.bye
        self.uas.on_cancel = self.cancel
        try:
            await self.uas.start()
        except OSError as exc:
            raise ProviderError(f"cannot listen for SIP on {self.address[0]}:{self.address[1]} (UDP): "
                                f"{exc.strerror or exc}; pick a free port in the Number's options.listen") from exc

    async def stop(self) -> None:
        for call in list(self.calls.values()):
            self.hang_up(call, "agent")
        if self.uas is not None:
            await self.uas.stop()

    # ------------------------------------------------------------------ SIP events
    def find(self, uri: str) -> tuple[str, Trunk | None]:
        from aiosipua.header_codec import parse_uri

        user = (parse_uri(uri).user or "").split(";")[0]
        for number, found in self.trunks.items():
            if user in (number, number.lstrip("+")):
                return number, found
        return user, None

    async def invite(self, incoming: Any) -> None:
        host = incoming.source_addr[0]
        number, found = self.find(incoming.invite.uri)
        if found is None or not found.allows(host):
            # 403 before 404: a peer not allowed learns nothing about which numbers exist
            allowed = any(t.allows(host) for t in self.trunks.values())
            code = 404 if allowed else 403
            log.warning("SIP INVITE from %s to %s refused (%d)", host, number[:40], code)
            incoming.reject(code, "Not Found" if code == 404 else "Forbidden")
            return
        offer = incoming.sdp_offer
        chosen = [c for c in (offer.audio.codecs if offer is not None and offer.audio else [])
                  if c.payload_type in CODECS or (c.encoding_name or "").upper() in CODECS.values()]
        if offer is None or offer.rtp_address is None or not chosen:
            incoming.reject(488, "Not Acceptable Here")
            return
        payload_type = chosen[0].payload_type if chosen[0].payload_type in CODECS else \
            {v: k for k, v in CODECS.items()}[chosen[0].encoding_name.upper()]
        dtmf = next((c.payload_type for c in offer.audio.codecs
                     if (c.encoding_name or "").lower() == "telephone-event"), None)
        from_user = incoming.invite.from_addr.uri.user if incoming.invite.from_addr else None
        call = SipCall(incoming, found, number, caller=from_user or host, sip_id=incoming.call_id)
        call.codec = CODECS[payload_type]
        call.remote = f"{from_user or ''}@{host}:{incoming.source_addr[1]}"
        sip_id = incoming.call_id
        self.calls[sip_id] = call
        try:
            await self.answer(call, payload_type, dtmf, offer.rtp_address)
        except Exception:  # noqa: BLE001 - one broken call never takes the listener down
            log.exception("SIP call %s failed", sip_id[:60])
            self.hang_up(call, "agent")
        finally:
            self.calls.pop(sip_id, None)
            if call.rtp is not None:
                await asyncio.to_thread(call.rtp.stop)

    async def answer(self, call: SipCall, payload_type: int, dtmf: int | None, remote: tuple[str, int]) -> None:
        from aiosipua import negotiate_sdp

        incoming = call.incoming
        incoming.ringing()
        target, refusal = await self.gateway.webhook(call, incoming.call_id)
        if call.ended.is_set():  # CANCEL while the runner decided: an admitted call is released, not left pending
            if target is not None:
                await self.gateway.status(target[1].get("call_id", ""), call, "canceled")
            return
        if target is None:
            call.status, reason = refusal
            incoming.reject(call.status, reason)
            return
        stream_url, params = target
        call.call_id = params.get("call_id")
        loop = asyncio.get_running_loop()
        call.rtp = RtpStream(self.address[0], payload_type, dtmf_type=dtmf,
                             on_audio=lambda ulaw: loop.call_soon_threadsafe(call.inbound.put_nowait, ("audio", ulaw)),
                             on_dtmf=lambda digit: loop.call_soon_threadsafe(call.inbound.put_nowait, ("dtmf", digit)))
        answer, _ = negotiate_sdp(incoming.sdp_offer, local_ip=self.address[0], rtp_port=call.rtp.port,
                                  supported_codecs=[payload_type], dtmf_payload_type=dtmf or 0)
        call.status = 200
        incoming.accept(answer)
        call.rtp.start(remote, incoming.source_addr[0])
        log.info("SIP call %s from %s to %s answered (%s): cb call %s", incoming.call_id[:60], call.caller[:40],
                 call.number, call.codec, call.call_id)
        await self.gateway.bridge(call, stream_url, params)
        self.hang_up(call, call.by or "agent")

    def bye(self, incoming: Any, request: Any) -> None:
        call = self.calls.get(incoming.call_id)
        if call is not None:
            call.by = call.by or "caller"
            call.ended.set()

    def cancel(self, request: Any, addr: Any = None) -> None:
        call = self.calls.get(request.call_id or "")
        if call is not None:
            call.by, call.status = "caller", 487
            call.ended.set()

    def hang_up(self, call: SipCall, by: str) -> None:
        call.by = call.by or by
        call.ended.set()
        if call.by == "agent" and call.outgoing is not None:
            call.outgoing.hangup(self.uac)  # BYE, when the dialog is confirmed
        elif call.by == "agent":
            call.incoming.hangup()


class SipGateway:
    """The ``sip`` call transport (``cb.call_transports``) and, through the same listeners, its dialer."""

    name = "sip"
    _shared: "SipGateway | None" = None

    def __init__(self, settings: TransportSettings):
        self.settings = settings
        self.listeners: dict[tuple[str, int], Listener] = {}
        self.loop = asyncio.SelectorEventLoop()  # plain asyncio: aiosipua asserts its transports' types
        self.thread = threading.Thread(target=self.loop.run_forever, name="cb-sip", daemon=True)
        self.thread.start()

    @classmethod
    def from_settings(cls, settings: TransportSettings) -> "SipGateway":
        if cls._shared is None or cls._shared.settings != settings:
            cls._shared = cls(settings)
        return cls._shared

    @staticmethod
    def validate_options(options: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
        """What is wrong with a sip Number's ``options`` (``cb validate``): (code, option, problem, fix)."""
        return problems(options)

    def check(self, numbers: list[Mapping[str, Any]]) -> None:
        """Could ``sync`` serve these Numbers? Binds each listen address it does not hold yet, then lets
        it go; ProviderError naming every address it cannot bind. Changes nothing."""
        try:
            trunks = [trunk(spec) for spec in numbers]
        except TrunkError as exc:
            raise ProviderError(str(exc)) from exc
        import socket

        failed = []
        for host, port in sorted({t.listen for t in trunks} - set(self.listeners)):
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                try:
                    probe.bind((host, port))
                except OSError as exc:
                    failed.append(f"cannot listen for SIP on {host}:{port} (UDP): {exc.strerror or exc}")
        if failed:
            raise ProviderError("; ".join(failed) + "; pick a free port (and an address of this host) in the "
                                "Number's options.listen")

    def _run(self, coro: Any, timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def sync(self, numbers: list[Mapping[str, Any]]) -> None:
        try:
            trunks = [trunk(spec) for spec in numbers]
        except TrunkError as exc:
            raise ProviderError(str(exc)) from exc
        self._run(self._sync(trunks))

    async def _sync(self, trunks: list[Trunk]) -> None:
        wanted: dict[tuple[str, int], dict[str, Trunk]] = {}
        for t in trunks:
            wanted.setdefault(t.listen, {})[t.number] = t
        for address in set(self.listeners) - set(wanted):
            await self.listeners.pop(address).stop()
        problems = []
        for address, by_number in wanted.items():
            if address not in self.listeners:
                listener = Listener(self, address)
                try:
                    await listener.start()
                except ProviderError as exc:
                    problems.append(str(exc))
                    continue
                self.listeners[address] = listener
                log.info("SIP: listening on %s:%d (UDP) for %s", address[0], address[1], ", ".join(sorted(by_number)))
            self.listeners[address].trunks = by_number
        if problems:
            raise ProviderError("; ".join(problems))

    def close(self) -> None:
        async def stop_all() -> None:
            for listener in self.listeners.values():
                await listener.stop()
            self.listeners.clear()
        try:
            self._run(stop_all())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            if SipGateway._shared is self:
                SipGateway._shared = None

    # ------------------------------------------------------------------ the runner's side
    async def webhook(self, call: SipCall, sip_id: str) -> tuple[tuple[str, dict[str, str]] | None, tuple[int, str]]:
        """Post the voice webhook as Twilio would; (stream URL, parameters) or the SIP refusal."""
        form = {"CallSid": sip_id[:200], "AccountSid": "sip", "From": call.caller[:64], "To": call.number,
                "Direction": "inbound", "CallStatus": "ringing", "ApiVersion": "2010-04-01",
                # cb's own fields for the record (Twilio never sends them; the local token signs them)
                "SipCallId": sip_id[:200], "SipRemote": call.remote[:200], "SipCodec": call.codec or ""}
        url = self.settings.runner_url + "/twilio/voice"
        async with httpx.AsyncClient(timeout=30) as client:
            resp = await client.post(url, data=form, headers={"X-Twilio-Signature": sign(url, form, self.settings.local_token)})
            if resp.status_code != 200:
                return None, (500, "Server Internal Error")
            root = ET.fromstring(resp.text)
            stream = root.find("./Connect/Stream")
            if stream is not None:
                params = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
                return (stream.get("url", ""), params), (200, "OK")
            if root.find("./Reject") is not None:
                ready = await client.get(self.settings.runner_url + "/readyz")
                if "draining" in ready.text:
                    return None, (480, "Temporarily Unavailable")
                return None, (486, "Busy Here")
            if "not in service" in resp.text:
                return None, (404, "Not Found")
            return None, (480, "Temporarily Unavailable")

    async def status(self, call_id: str, call: SipCall, status: str) -> None:
        """Post a status callback as Twilio would (``/twilio/status``), signed with the local token."""
        form = {"CallSid": call.sip_id[:200], "AccountSid": "sip", "CallStatus": status,
                "SipResponseCode": str(call.status or 487)}
        url = f"{self.settings.runner_url}/twilio/status?call={call_id}"
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                await client.post(url, data=form, headers={"X-Twilio-Signature": sign(url, form, self.settings.local_token)})
        except httpx.HTTPError as exc:  # the runner's pending timer ends the call instead
            log.warning("SIP call %s: status %s not delivered: %s", call.sip_id[:60], status, exc)

    async def bridge(self, call: SipCall, stream_url: str, params: dict[str, str]) -> None:
        """Carry the call over the runner's Media Streams WebSocket until either side ends it."""
        import websockets

        sid = "MZ" + uuid.uuid4().hex
        call_sid = call.sip_id[:200]
        async with websockets.connect(stream_url, max_size=None, compression=None) as ws:
            await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
            await ws.send(json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": sid, "start": {
                "streamSid": sid, "accountSid": "sip", "callSid": call_sid, "tracks": ["inbound"],
                "customParameters": params,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))
            tasks = [asyncio.create_task(self._up(call, ws, sid)), asyncio.create_task(self._down(call, ws)),
                     asyncio.create_task(call.ended.wait())]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if call.by == "caller":
                try:
                    await ws.send(json.dumps({"event": "stop", "streamSid": sid,
                                              "stop": {"accountSid": "sip", "callSid": call_sid}}))
                except Exception:  # noqa: BLE001 - the runner closed first
                    pass
            for task in tasks:
                task.cancel()

    async def _up(self, call: SipCall, ws: Any, sid: str) -> None:
        """RTP from the caller -> ``media`` / ``dtmf`` events."""
        n = 0
        while True:
            kind, value = await call.inbound.get()
            n += 1
            if kind == "audio":
                await ws.send(MEDIA % (n + 1, sid, n, n * 20, base64.b64encode(value).decode()))
            else:
                await ws.send(json.dumps({"event": "dtmf", "streamSid": sid, "sequenceNumber": str(n + 1),
                                          "dtmf": {"track": "inbound_track", "digit": value}}))

    async def _down(self, call: SipCall, ws: Any) -> None:
        """The agent's ``media`` -> RTP queue; ``clear`` empties it. Returns when the runner closes."""
        try:
            async for raw in ws:
                message = json.loads(raw)
                event = message.get("event")
                if event == "media" and call.rtp is not None:
                    call.rtp.play(base64.b64decode(message["media"]["payload"]))
                elif event == "clear" and call.rtp is not None:
                    call.rtp.clear()
        except Exception:  # noqa: BLE001 - closed by the runner: the agent hung up
            pass
        call.by = call.by or "agent"
