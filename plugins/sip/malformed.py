"""400 Bad Request for a request that cannot be parsed at all (RFC 3261 §21.4.1), not silence.

aiosipua answers 400 for a request missing a mandatory header but drops one it cannot parse
(or parses a header such as CSeq only when first read, then fails in the handler);
a caller then retransmits for 32 s and learns nothing. Here the raw Via, From, To, Call-ID and
CSeq lines (whatever of them can be found) are echoed in a 400, and the listener lives on.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("cb.plugins.sip")

ECHO = ("via", "v", "from", "f", "to", "t", "call-id", "i", "cseq")
MAX_SIZE = 65535


def bad_request(data: bytes) -> bytes | None:
    text = data[:MAX_SIZE].decode("utf-8", "replace")
    head = text.split("\r\n\r\n", 1)[0].split("\n")
    first = head[0].strip()
    if first.startswith("SIP/2.0") or first.upper().startswith("ACK ") or not first:
        return None  # never answer a response or an ACK
    lines = [line.strip() for line in head[1:] if line.split(":", 1)[0].strip().lower() in ECHO]
    if not any(line.lower().startswith(("via:", "v:")) for line in lines):
        return None  # nowhere to send it
    return ("SIP/2.0 400 Bad Request\r\n" + "".join(f"{line}\r\n" for line in lines)
            + "Content-Length: 0\r\n\r\n").encode()


def answer_unparseable(transport: Any) -> None:
    """Wrap the transport's dispatch: what aiosipua cannot parse gets a 400 sent to its source."""
    from aiosipua.message import SipMessage

    dispatch = transport._dispatch

    def checked(data: bytes, addr: tuple[str, int]) -> None:
        try:
            message = SipMessage.parse(data)
            for header in ("cseq", "via", "from_addr", "to_addr"):  # parsed lazily: parse them now
                getattr(message, header)
            if message.cseq is not None and not str(message.cseq.seq).isdigit():
                raise ValueError("CSeq is not a number")
        except Exception:  # noqa: BLE001 - any parse failure is the peer's malformed message
            reply = bad_request(data)
            log.warning("SIP: unparseable message from %s%s", addr[0], ", answered 400" if reply else "")
            udp = getattr(transport, "_udp_transport", None)
            if reply and udp is not None:
                udp.sendto(reply, addr)
            return
        dispatch(data, addr)

    transport._dispatch = checked
