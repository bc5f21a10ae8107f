"""SIGTERM during a call: new calls are refused at once, the call in progress finishes, then the
runner exits."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from cb.plugins.local.caller import Line, SimulatedCaller
from cb.runner.calls.records import open_records
from cb.runner.calls.signing import local_token, sign

from .harness import Runner, free_port

pytestmark = pytest.mark.slow

SERVE = """
import sys
from pathlib import Path
from cb.runner.app import create_app, settings_from_env
from cb.runner.calls import graceful
import logging; logging.basicConfig(level=logging.INFO)
settings = settings_from_env("127.0.0.1", int(sys.argv[1]), sys.argv[2])
graceful.run(create_app(settings), host="127.0.0.1", port=settings.port, log_level="warning")
"""


def test_sigterm_drains_the_call_in_progress_and_refuses_new_ones(tmp_path, project):
    port, state = free_port(), tmp_path / "state"
    log = tmp_path / "runner.log"
    proc = subprocess.Popen([sys.executable, "-c", SERVE, str(port), str(state)], cwd=project,
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    runner = Runner(f"http://127.0.0.1:{port}", state, proc, log)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(runner.url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        code, out = runner.apply(project)
        assert code == 0, out
        token = local_token(state, create=False)

        async def scenario():
            caller = SimulatedCaller(runner.url, token, to_number="+14155550100",
                                     lines=[Line("Hi, I would like to book an appointment."), Line("No thank you, goodbye.")])
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
        assert "goodbye" in heard
    finally:
        runner.stop()
