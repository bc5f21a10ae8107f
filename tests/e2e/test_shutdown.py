"""SIGTERM during a call: new calls are refused at once, the call in progress finishes, then the
runner exits."""

from __future__ import annotations

import asyncio
import signal

import httpx
import pytest

from cb.contracts.voice_webhook_auth import local_token, sign
from cb.plugins.local.caller import Line, SimulatedCaller
from cb.runner.calls.records import open_records

from .harness import start_runner

pytestmark = pytest.mark.slow


def test_sigterm_drains_the_call_in_progress_and_refuses_new_ones(tmp_path, project):
    state = tmp_path / "state"
    runner = start_runner(project, state)
    proc = runner.proc
    try:
        code, out = runner.apply(project)
        assert code == 0, out
        token = local_token(state, create=False)

        async def scenario():
            caller = SimulatedCaller(runner.url, token, to_number="+14155550100",
                                     lines=[Line("Hi I would like to book an appointment."), Line("No thank you goodbye.")])
            call = asyncio.create_task(caller.run())
            while not caller.result.transcript:  # the greeting has been heard: the call is live
                await asyncio.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.5)
            url = runner.url + "/twilio/voice"
            form = {"CallSid": "CA9", "From": "+15005550006", "To": "+14155550100"}
            refused = await asyncio.to_thread(lambda: httpx.post(url, data=form, headers={"X-Twilio-Signature": sign(url, form, token)}))
            ready = await asyncio.to_thread(lambda: httpx.get(runner.url + "/readyz"))
            return await call, refused, ready

        result, refused, ready = asyncio.run(scenario())
        assert '<Reject reason="busy"/>' in refused.text and ready.status_code == 503
        assert result.ended_by == "agent"  # the call went on to its goodbye after the signal
        assert proc.wait(30) is not None
        rec = open_records(state).get(result.call_id)
        assert (rec.status, rec.end_reason) == ("completed", "end_call")
        heard = " ".join(h.text.lower() for h in result.transcript if h.role == "agent")
        assert "bye" in heard  # the goodbye played (Whisper writes "goodbye", "good bye" or "bye bye")
    finally:
        runner.stop()
