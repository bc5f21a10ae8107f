"""RTP for one call (RFC 3550): G.711 at 20 ms out on an absolute clock, audio and RFC 4733 DTMF in.

Each call's media runs in a thread of its own: every 20 ms on the monotonic clock it sends the
next 160 samples the agent queued (silence when there are none, so the far end's jitter buffer
sees one unbroken stream) and, between ticks, reads what the far end sent. The pipeline's event
loop may be as busy as it likes: the wire keeps its pace. Packets from any host but the one the
SDP named, or the one the call's signalling came from, are ignored (RFC 3550 §8.2: a stranger
cannot inject audio into a call). The signalling peer counts because a phone often names an
address in its SDP that is not the one its packets leave from (baresip names its LAN address and
sends from loopback; a phone behind NAT names its private one).
"""

from __future__ import annotations

import os
import select
import socket
import struct
import threading
import time
from collections import deque
from typing import Callable

from . import g711

FRAME = 160  # 20 ms of 8 kHz G.711, one byte a sample
FRAME_SECS = 0.020
DTMF_EVENTS = "0123456789*#ABCD"


class RtpStream:
    """The media of one call. ``on_audio(ulaw)`` and ``on_dtmf(digit)`` are called from its thread."""

    def __init__(self, host: str, payload_type: int, *, dtmf_type: int | None = None,
                 on_audio: Callable[[bytes], None] | None = None,
                 on_dtmf: Callable[[str], None] | None = None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.payload_type, self.dtmf_type = payload_type, dtmf_type
        self.alaw = payload_type == 8
        self.on_audio, self.on_dtmf = on_audio, on_dtmf
        self.remote: tuple[str, int] | None = None
        self.peers: set[str] = set()
        self.outbox: deque[bytes] = deque()
        self.ssrc = struct.unpack("!I", os.urandom(4))[0]
        self.seq = struct.unpack("!H", os.urandom(2))[0]
        self.timestamp = struct.unpack("!I", os.urandom(4))[0]
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None
        self.sent = self.received = self.ignored = 0
        self.send_lag: list[float] = []  # how late each tick ran, seconds (bench: jitter)
        self._dtmf_seen: set[int] = set()
        self._pending = b""

    def start(self, remote: tuple[str, int], signalling_host: str | None = None) -> None:
        self.remote = remote
        self.peers = {remote[0]} | ({signalling_host} if signalling_host else set())
        self.thread = threading.Thread(target=self._run, name=f"cb-rtp-{self.port}", daemon=True)
        self.thread.start()

    def play(self, ulaw: bytes) -> None:
        """Queue agent audio (mu-law, any length) for the next ticks."""
        data = self._pending + ulaw
        cut = len(data) - len(data) % FRAME
        self.outbox.extend(data[i:i + FRAME] for i in range(0, cut, FRAME))
        self._pending = data[cut:]

    def clear(self) -> None:
        """Barge-in: drop whatever the agent had queued."""
        self.outbox.clear()
        self._pending = b""

    def stop(self) -> None:
        self.stopped.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout=1)
        self.sock.close()

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        next_at = time.monotonic()
        silence = (g711.ALAW_SILENCE if self.alaw else g711.ULAW_SILENCE) * FRAME
        while not self.stopped.is_set():
            now = time.monotonic()
            if now >= next_at:
                self.send_lag.append(now - next_at)
                frame = self.outbox.popleft() if self.outbox else None
                self._send(silence if frame is None else g711.from_ulaw(frame, self.alaw))
                next_at += FRAME_SECS
                if now - next_at > 0.2:  # the machine stalled: resynchronise rather than burst
                    next_at = now + FRAME_SECS
                continue
            try:
                readable, _, _ = select.select([self.sock], [], [], next_at - now)
            except (OSError, ValueError):
                return
            if readable:
                self._read()

    def _send(self, payload: bytes) -> None:
        header = struct.pack("!BBHII", 0x80, self.payload_type, self.seq, self.timestamp, self.ssrc)
        self.seq = (self.seq + 1) & 0xFFFF
        self.timestamp = (self.timestamp + FRAME) & 0xFFFFFFFF
        try:
            self.sock.sendto(header + payload, self.remote)  # type: ignore[arg-type]
            self.sent += 1
        except OSError:
            pass

    def _read(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(2048)
            except (BlockingIOError, OSError):
                return
            if addr[0] not in self.peers or len(data) < 12 or data[0] >> 6 != 2:
                self.ignored += 1
                continue
            self.received += 1
            csrc, extension = data[0] & 0x0F, data[0] & 0x10
            offset = 12 + 4 * csrc
            if extension and len(data) >= offset + 4:
                offset += 4 + 4 * struct.unpack("!H", data[offset + 2:offset + 4])[0]
            payload_type = data[1] & 0x7F
            payload = data[offset:]
            if data[0] & 0x20 and payload:  # padding
                payload = payload[:-payload[-1]]
            if payload_type == self.dtmf_type:
                self._dtmf(payload, struct.unpack("!I", data[4:8])[0])
            elif payload_type == self.payload_type and self.on_audio is not None:
                self.on_audio(g711.to_ulaw(payload, self.alaw))

    def _dtmf(self, payload: bytes, timestamp: int) -> None:
        """RFC 4733: one digit per event (its timestamp), reported when its end bit arrives."""
        if len(payload) < 4 or not payload[1] & 0x80 or timestamp in self._dtmf_seen:
            return
        self._dtmf_seen.add(timestamp)
        if payload[0] < len(DTMF_EVENTS) and self.on_dtmf is not None:
            self.on_dtmf(DTMF_EVENTS[payload[0]])
