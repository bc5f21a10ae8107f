"""The simulated caller's G.711 mu-law matches what Twilio (and pipecat's decoder) use."""

from __future__ import annotations

import audioop  # noqa: deprecated in 3.13, still the reference here on 3.11
import warnings

import numpy as np

from cb.plugins.local.speech import ulaw_decode, ulaw_encode

warnings.filterwarnings("ignore", category=DeprecationWarning)


def test_mu_law_round_trip_agrees_with_the_reference_decoder():
    rng = np.random.default_rng(7)
    pcm = (np.sin(np.linspace(0, 400, 8000)) * 12000 + rng.normal(0, 300, 8000)).astype(np.int16).tobytes()
    encoded = ulaw_encode(pcm)
    assert len(encoded) == 8000
    assert ulaw_decode(encoded) == audioop.ulaw2lin(encoded, 2)
    a = np.frombuffer(pcm, np.int16).astype(float)
    b = np.frombuffer(ulaw_decode(encoded), np.int16).astype(float)
    assert 10 * np.log10((a ** 2).sum() / ((a - b) ** 2).sum()) > 30  # G.711's ~38 dB SNR
    assert ulaw_encode(b"\0\0" * 4) == b"\xff" * 4  # digital silence
