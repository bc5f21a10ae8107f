"""G.711 between mu-law (the Media Streams wire) and A-law, by two 256-byte tables.

The runner's pipeline speaks 8 kHz mu-law (Twilio's format); a PCMU call passes its RTP payload
through untouched, a PCMA call is translated byte for byte here (ITU-T G.711, as audioop did).
"""

from __future__ import annotations


def _ulaw_to_linear(byte: int) -> int:
    byte = ~byte & 0xFF
    sign, exponent, mantissa = byte & 0x80, (byte >> 4) & 0x07, byte & 0x0F
    sample = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return -sample if sign else sample


def _alaw_to_linear(byte: int) -> int:
    byte ^= 0x55
    sign, exponent, mantissa = byte & 0x80, (byte >> 4) & 0x07, byte & 0x0F
    sample = (mantissa << 4) + 8 if exponent == 0 else ((mantissa << 4) + 0x108) << (exponent - 1)
    return sample if sign else -sample


def _linear_to_ulaw(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    sample = min(abs(sample), 32635) + 0x84
    exponent = max(0, sample.bit_length() - 8)
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _linear_to_alaw(sample: int) -> int:
    sign = 0x80 if sample >= 0 else 0
    sample = min(sample if sample >= 0 else -sample - 1, 32767) >> 3
    if sample < 32:
        code = sample >> 1
    else:
        exponent = sample.bit_length() - 5
        code = (exponent << 4) | ((sample >> exponent) & 0x0F)
    return (sign | code) ^ 0x55


ULAW_TO_ALAW = bytes(_linear_to_alaw(_ulaw_to_linear(b)) for b in range(256))
ALAW_TO_ULAW = bytes(_linear_to_ulaw(_alaw_to_linear(b)) for b in range(256))
ULAW_SILENCE = b"\xff"
ALAW_SILENCE = b"\xd5"


def to_ulaw(payload: bytes, alaw: bool) -> bytes:
    return payload.translate(ALAW_TO_ULAW) if alaw else payload


def from_ulaw(payload: bytes, alaw: bool) -> bytes:
    return payload.translate(ULAW_TO_ALAW) if alaw else payload
