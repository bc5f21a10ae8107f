"""A real runner driven past its measured ceiling refuses new calls while the call in progress keeps
its pacing (cb.runner.admission).

The runner is given a tiny CPU budget (CB_ADMIT_CPU=0.001 of a core), so the ceiling it measures
from its first call's real cost is one call: nothing in the runner says "one". A burst of signed
voice webhooks then arrives while the first call's greeting plays; each is answered
``<Reject reason="busy"/>``, /readyz says 503 and why, the refusals are counted by reason in
/metrics and logged, and the greeting reaches the caller on time, frame after frame.
"""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
import pytest

from cb.contracts.voice_webhook_auth import local_token, sign
from cb.plugins.local.twilio_peer import TwilioPeer
from cb.runner.admission import Signal

from .harness import start_runner

pytestmark = pytest.mark.slow


class Listener(TwilioPeer):
    """A caller who stays silent for ``hold`` seconds and times every agent frame it hears."""

    def __init__(self, *args, hold: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.hold = hold
        self.frames: list[tuple[float, float]] = []  # (arrival, seconds of audio)

    def _media(self, raw: str, now: float) -> None:
        self.frames.append((now, len(base64.b64decode(json.loads(raw)["media"]["payload"])) / 8000))

    async def talk(self) -> None:
        await asyncio.sleep(self.hold)


def test_past_its_measured_ceiling_a_runner_refuses_new_calls_and_the_call_in_progress_keeps_its_pace(tmp_path, project):
    state = tmp_path / "state"
    runner = start_runner(project, state, "--workers", "1", env={"CB_ADMIT_CPU": "0.001"})
    try:
        code, out = runner.apply(project)
        assert code == 0, out
        token = local_token(state, create=False)
        url = runner.url + "/twilio/voice"

        async def webhook(client: httpx.AsyncClient, n: int) -> str:
            form = {"CallSid": f"CAburst{n}", "From": "+15005550006", "To": "+14155550100"}
            resp = await client.post(url, data=form, headers={"X-Twilio-Signature": sign(url, form, token)})
            return resp.text

        async def scenario():
            first = Listener(runner.url, token, to_number="+14155550100", hold=8.0)
            call = asyncio.create_task(first.call())
            while not first.frames and not call.done():  # the greeting is playing: the call is live
                await asyncio.sleep(0.02)
            await asyncio.sleep(1.0)  # a second of the call's real cost measured
            async with httpx.AsyncClient(timeout=30) as client:
                answers = await asyncio.gather(*(webhook(client, n) for n in range(12)))
                ready = await client.get(runner.url + "/readyz")
            await call
            return first, answers, ready

        first, answers, ready = asyncio.run(scenario())
        assert first.trace.refused is None and first.frames, first.trace
        assert all('<Reject reason="busy"/>' in a for a in answers), answers
        body = ready.json()
        # the ceiling (or, on a machine loaded by others, a caller-facing signal before it)
        assert ready.status_code == 503 and body["reason"].startswith(("at the measured ceiling", "overloaded")), body
        assert body["admission"]["ceiling"] == 1 and body["admission"]["cpu_per_call"] > 0.001, body
        metrics = httpx.get(runner.url + "/metrics").text
        refused = {line.split('"')[1]: float(line.split()[-1]) for line in metrics.splitlines()
                   if line.startswith("cb_calls_refused_total{")}
        assert sum(refused.get(r, 0) for r in ("ceiling", "pacing", "input_backlog", "loop_lag")) >= 12, refused
        assert "admission: refusing new calls (" in runner.log.read_text()
        # The call in progress kept its pace: its greeting's frames arrived when they were due.
        pace = Signal()
        pacer = pace.pacer()
        for at, seconds in first.frames:
            pacer.sent(seconds, now=at)
        assert pace.frames >= 50 and pace.missed / pace.frames < 0.02, (pace.frames, pace.missed)
    finally:
        runner.stop()
