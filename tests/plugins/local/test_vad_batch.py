"""The Silero VAD scores every call's window in one batched run: each call must get exactly what it
would get alone (its own recurrent state and context), and concurrent calls must share runs."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from cb.plugins.local import speech, vad  # noqa: E402
from pipecat.audio.vad.vad_analyzer import VADState  # noqa: E402

LINES = ("I would like to book an appointment for tomorrow morning.", "What is the address of your office?",
         "Mm-hm.")


def caller_audio(i: int) -> bytes:
    """Speech with silence around it, different per stream (offset and line), as 20 ms frames."""
    pcm = np.frombuffer(speech.synthesize(LINES[i % len(LINES)]), dtype=np.int16)  # 8 kHz
    silence = np.zeros(160 * (5 + 7 * i), dtype=np.int16)
    return np.concatenate([silence, pcm, np.zeros(8000, dtype=np.int16)]).tobytes()


def frames(audio: bytes) -> list[bytes]:
    return [audio[k:k + 320] for k in range(0, len(audio) - 319, 320)]


def analyzer() -> vad.SharedSileroVADAnalyzer:
    a = vad.vad_analyzer(start_secs=0.2, stop_secs=0.2)
    a.set_sample_rate(8000)
    return a


def alone(audio: bytes) -> tuple[list[VADState], list[float]]:
    """Each window scored by itself, the unbatched path (SileroOnnxModel.__call__)."""
    a, states, scores = analyzer(), [], []
    real = a.voice_confidence

    def spy(buf):
        c = real(buf)
        scores.append(float(np.asarray(c).reshape(-1)[0]))
        return c

    a.voice_confidence = spy
    for f in frames(audio):
        states.append(a._run_analyzer(f))
    return states, scores


@pytest.mark.parametrize("on_loop", [False, True], ids=["on the cb-vad thread", "on the event loop"])
def test_batched_streams_decide_as_each_would_alone(monkeypatch, on_loop):
    monkeypatch.setattr(vad, "BATCH", True)
    monkeypatch.setattr(vad, "_batch", vad._Batch(on_loop=on_loop))
    audios = [caller_audio(i) for i in range(6)]
    expected = [alone(a) for a in audios]
    runs0, windows0 = vad._batch.runs, vad._batch.windows

    async def together():
        analyzers = [analyzer() for _ in audios]
        scores = [[] for _ in audios]
        for i, a in enumerate(analyzers):
            real = a.voice_confidence

            def spy(buf, real=real, out=scores[i]):
                c = real(buf)
                out.append(float(np.asarray(c).reshape(-1)[0]))
                return c

            a.voice_confidence = spy

        async def stream(i: int) -> list[VADState]:
            out = []
            for f in frames(audios[i]):
                out.append(await analyzers[i].analyze_audio(f))
                await asyncio.sleep(0)  # every call's frame arrives in the same pass, as under load
            return out

        states = await asyncio.gather(*(stream(i) for i in range(len(audios))))
        return states, scores

    states, scores = asyncio.run(together())
    for i, (want_states, want_scores) in enumerate(expected):
        assert VADState.SPEAKING in want_states  # the speech was heard at all
        assert states[i] == want_states, f"stream {i} decided differently batched"
        assert np.allclose(scores[i], want_scores, atol=1e-4), f"stream {i} scored differently batched"
    runs, windows = vad._batch.runs - runs0, vad._batch.windows - windows0
    assert windows == sum(len(want_scores) for _, want_scores in expected)
    assert windows / runs > 3, f"{windows} windows in {runs} runs: the streams did not share runs"
