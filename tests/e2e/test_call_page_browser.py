"""Issue 19: a real call, then its pages in a real browser (Debian's headless Chromium over CDP).

The call is placed through a runner with a bearer token (scripted STT and LLM, Piper, a tool, a
barge-in); `cb calls show ID --open` prints a signed link; Chromium opens it (no token anywhere
near the browser), loads the list and the call page, checks what they show, plays the recording
and watches the cursor move, saves screenshots, finds no console errors and runs axe-core
(vendored from npm) for accessibility violations.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from cb.cli import cli
from cb.plugins.local.caller import Line
from cb.plugins.scripted.script import parse
from cb.plugins.scripted.server import ScriptedLLMServer
from tests.support.cdp import Browser, chromium
from tests.support.receiver import Receiver

from .harness import call_once, start_runner
from .test_preemptive import AGENT, SCRIPT

pytestmark = pytest.mark.skipif(chromium() is None, reason="chromium is not installed (apt-get install chromium)")
AXE = Path(__file__).parents[1] / "support" / "vendor" / "axe.min.js"
SHOTS = Path(os.environ.get("CB_SCREENSHOTS", "")) if os.environ.get("CB_SCREENSHOTS") else None
BOOK = "I would like to book Tuesday at ten."


def test_the_call_list_and_a_call_page_in_a_real_browser(tmp_path, monkeypatch):
    monkeypatch.setenv("CB_TOKEN", "t0ken-for-the-browser-test")
    booking = Receiver(script=[200], reply={"booked": True})
    try:
        with ScriptedLLMServer(parse(SCRIPT)) as llm:
            first, result = call_once(tmp_path, AGENT.format(book=BOOK, llm=llm.url, booking=booking.url),
                                      [Line(BOOK), Line("No thank you, goodbye.")])
    finally:
        booking.stop()
    runner = start_runner(tmp_path / "fleet", first.state_dir)
    browser = None
    try:
        call_id = result.call_id
        # Without the token or a signed link, the pages are closed; a forged link is refused.
        assert httpx.get(f"{runner.url}/ui/calls").status_code == 401
        forged = httpx.get(f"{runner.url}/ui/open", params={"to": "/ui/calls", "exp": "9999999999", "sig": "0" * 64})
        assert forged.status_code == 403
        assert httpx.get(f"{runner.url}/ui/history/agent.front-desk").status_code == 401

        out = CliRunner().invoke(cli, ["calls", "show", call_id, "--open", "--runner", runner.url])
        assert out.exit_code == 0, out.output
        link = out.output.strip().splitlines()[0]
        assert link.startswith(runner.url + "/ui/open?") and "t0ken" not in link

        listing = CliRunner().invoke(cli, ["calls", "list", "--runner", runner.url])
        assert "COST $" in listing.output and call_id in listing.output, listing.output

        browser = Browser()
        browser.goto(link)
        assert browser.eval("location.pathname") == f"/ui/calls/{call_id}"
        browser.wait_for("document.getElementById('timeline').classList.contains('ready')")
        assert browser.eval("document.querySelectorAll('#waveform').length") == 1
        assert browser.eval("window.cbWave.getDecodedData().numberOfChannels") == 2, "caller and agent channels"
        assert browser.eval("document.querySelectorAll('#transcript .turn.agent').length") >= 2
        said = browser.eval("[...document.querySelectorAll('#transcript .turn')].map(t => t.textContent.trim())")
        assert any("caller" in t and "book" in t.lower() for t in said), said
        assert browser.eval("document.querySelectorAll('#track-tools .span.tool.ok').length") == 2  # booked, end_call
        assert "book_appointment" in browser.eval("document.getElementById('tools').textContent")
        assert browser.eval("document.querySelectorAll('#latency .bars .bar').length") >= 2
        assert call_id in browser.eval("document.querySelector('h1').textContent")
        assert browser.eval("document.getElementById('revision').textContent")
        assert "$0.0000" in browser.eval("document.getElementById('cost').textContent"), "the local stack is free"
        assert browser.eval("document.querySelectorAll('#cost-lines tbody tr').length") == 5
        # The tool ran after the caller's turn ended (VAD quiet 0.6 s, then the LLM), placed on the
        # recording's axis by its offset on the call's clock, not by the later media-start wall clock.
        asked = browser.eval("parseFloat(document.querySelector('#track-caller .span').title.split('–')[1])")
        booked = browser.eval("parseFloat(document.querySelector('#track-tools .span').dataset.start)")
        assert booked > asked, (asked, booked)
        states = browser.eval("[...document.querySelectorAll('#events tbody tr')].map(r => r.textContent)")
        assert [s for s in states if "in-progress" in s] and [s for s in states if "completed" in s], states
        assert browser.eval("document.querySelectorAll('#overlaps').length") == 1
        if SHOTS:
            browser.screenshot(SHOTS / "call-page.png")
        browser.screenshot(tmp_path / "call-page.png")

        # Playback moves the cursor along the shared time axis.
        before = browser.eval("getComputedStyle(document.getElementById('cursor')).left")
        browser.eval("document.getElementById('play').click()")
        browser.wait_for("window.cbWave.getCurrentTime() > 0.5", timeout=15)
        assert browser.eval("getComputedStyle(document.getElementById('cursor')).left") != before
        assert browser.eval("document.getElementById('play').textContent") == "Pause"
        browser.eval("window.cbWave.pause()")

        violations = axe(browser)
        assert violations == [], violations

        # The revision that answered, marked in its address's history.
        pinned = browser.eval("document.getElementById('revision').textContent")
        browser.goto(browser.eval("document.getElementById('revision-link').href"))
        browser.wait_for("location.pathname === '/ui/history/agent.front-desk' && document.readyState === 'complete'")
        answered = browser.eval("document.getElementById('answered').textContent")
        assert "answered the call" in answered and pinned[:12] in answered, answered
        assert axe(browser) == []

        browser.goto(f"{runner.url}/ui/calls?agent=front-desk")
        rows = browser.eval("[...document.querySelectorAll('#calls tbody tr')].map(r => r.textContent)")
        assert len(rows) == 1 and call_id in rows[0]
        browser.goto(f"{runner.url}/ui/calls?tool_errors=1")
        assert "No calls match" in browser.eval("document.querySelector('#calls tbody').textContent")
        browser.goto(f"{runner.url}/ui/calls")
        assert axe(browser) == []
        browser.screenshot(tmp_path / "call-list.png")
        if SHOTS:
            browser.screenshot(SHOTS / "call-list.png")
        assert browser.errors == [], browser.errors
    finally:
        if browser is not None:
            browser.close()
        runner.stop()


def axe(browser: Browser) -> list[str]:
    """axe-core's WCAG 2 A/AA rules over the page: each violation as 'rule: where'."""
    browser.eval(AXE.read_text(), wait=False)
    found = browser.eval("axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']})"
                         ".then(r => r.violations.map(v => v.id + ': ' + v.nodes.map(n => n.target).join(' | ')))")
    return found
