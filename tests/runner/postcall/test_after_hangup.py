"""After a call: returns filled by the scripted LLM, a signed webhook through the outbox."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import jsonschema
import openai
import pytest

from cb.contracts.webhook_payload import WebhookPayload
from cb.contracts.webhook_signature import verify_signature
from cb.plugins.scripted.script import parse
from cb.plugins.scripted.server import ScriptedLLMServer
from cb.runner.postcall import outcomes
from cb.runner.postcall.after_hangup import AfterCall
from cb.runner.tools import ToolCallRecord
from cb.runner.webhooks import Outbox
from cb.runner.webhooks.worker import Worker

from .test_returns import GOOD, SCHEMA

SECRET = "whsec_aftercall"


def plan(url: str, returns=None) -> SimpleNamespace:
    return SimpleNamespace(
        call_id="call_abc", agent="agent.front-desk", agent_revision="sha256:4f1c", started="2026-04-27T16:00:00+00:00",
        spec={"webhook": {"url": url, "secret": "${env:HOOK_SECRET}", "events": ["call.completed"]},
              "returns": returns if returns is not None else {"schema": SCHEMA}})


RECORD = SimpleNamespace(status="completed", started_at="2026-04-27T16:00:00.000+00:00",
                         ended_at="2026-04-27T16:01:26.000+00:00",
                         transcript=[{"role": "caller", "text": "Book me Tuesday at ten, I'm Maria Gomez."}])
TOOL = ToolCallRecord(name="book_appointment", arguments={"slot": GOOD["appointment_at"]}, ok=True, status="ok",
                      latency_ms=212.4, started_at=0.0, attempts=1, http_status=200, result={"booked": True})


@pytest.fixture
def llm():
    servers = []

    def make(returns):
        server = ScriptedLLMServer(parse({"turns": [], "returns": returns})).start()
        servers.append(server)
        return lambda _plan: (openai.AsyncOpenAI(base_url=server.url, api_key="x", max_retries=0), "scripted")

    yield make
    for s in servers:
        s.stop()


def deliver(state, box, row_id):
    async def go():
        worker = Worker(state, env={"HOOK_SECRET": SECRET}, poll_sec=0.02)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        for _ in range(250):
            if box.get(row_id).status == "delivered":
                break
            await asyncio.sleep(0.02)
        stop.set()
        await task
        worker.close()
    asyncio.run(go())


def test_a_completed_call_produces_a_signed_webhook_with_returns_and_tool_calls(tmp_path, receiver, llm):
    r = receiver([200])
    rec, tr = tmp_path / "calls/call_abc/recording.wav", tmp_path / "calls/call_abc/transcript.json"
    after = AfterCall(tmp_path, llm_for=llm([GOOD]))

    async def run():
        await after(plan(r.url + "/calls"), RECORD, {"tool_records": [TOOL], "capture": {
            "recording": str(rec), "transcript": str(tr), "turns": [{"speaker": "caller", "text": "hi"}]}})
        await after.drain()
    asyncio.run(run())

    box = Outbox.open(tmp_path)
    [row] = box.list()
    assert row.status == "pending"
    deliver(tmp_path, box, row.id)
    [req] = r.wait_for(1)
    verify_signature(SECRET, req.body, req.headers["CB-Signature"])
    body = req.json()
    jsonschema.validate(body, WebhookPayload.model_json_schema())
    assert body["returns"] == GOOD and body["returns_error"] is None
    assert body["tool_calls"] == [{"name": "book_appointment", "ok": True, "status": "ok", "latency_ms": 212.4}]
    assert body["duration_sec"] == 86 and body["agent"] == "agent.front-desk" and body["revision"] == "sha256:4f1c"
    assert body["recording_url"] == rec.resolve().as_uri() and body["transcript_url"].endswith("transcript.json")
    stored = outcomes.get(after.conn, "call_abc")
    assert stored["returns"] == GOOD and stored["tool_calls"][0]["result"] == {"booked": True}
    assert stored["webhooks"] == [row.id]


def test_returns_that_never_fit_are_null_with_the_error_in_the_webhook(tmp_path, receiver, llm):
    r = receiver([200])
    after = AfterCall(tmp_path, llm_for=llm([{"intent": "sales"}]), max_attempts=2)
    payload = asyncio.run(after.process(plan(r.url), RECORD, {"tool_records": [TOOL]}))
    assert payload["returns"] is None and "'sales' is not one of" in payload["returns_error"]
    assert '"returns":null' in Outbox.open(tmp_path).list()[0].body


def test_a_named_return_schema_that_is_not_applied_is_reported_not_guessed(tmp_path, receiver):
    r = receiver([200])
    after = AfterCall(tmp_path, return_schemas=lambda name: None)
    payload = asyncio.run(after.process(plan(r.url, returns="front-desk"), RECORD, {}))
    assert payload["returns"] is None and "return schema 'front-desk' is not applied" in payload["returns_error"]
    assert Outbox.open(tmp_path).list()[0].status == "pending"


def test_an_agent_without_a_webhook_still_keeps_its_outcome(tmp_path, llm):
    after = AfterCall(tmp_path, llm_for=llm([GOOD]))
    p = plan("http://127.0.0.1:9/")
    p.spec.pop("webhook")
    asyncio.run(after.process(p, RECORD, {"tool_records": [TOOL]}))
    assert Outbox.open(tmp_path).list() == []
    assert outcomes.get(after.conn, "call_abc")["returns"] == GOOD


def test_returns_ready_is_its_own_delivery_when_the_agent_asks_for_it(tmp_path, receiver, llm):
    r = receiver([200])
    after = AfterCall(tmp_path, llm_for=llm([GOOD]))
    p = plan(r.url)
    p.spec["webhook"]["events"] = ["returns.ready"]
    asyncio.run(after.process(p, RECORD, {"tool_records": [TOOL]}))
    [row] = Outbox.open(tmp_path).list()
    assert row.event == "returns.ready" and row.status == "pending" and '"event":"returns.ready"' in row.body


def test_call_started_is_owed_as_the_call_begins_when_asked_for(tmp_path):
    after = AfterCall(tmp_path)
    p = plan("http://127.0.0.1:9/hook")
    assert after.call_started(p) is None and Outbox.open(tmp_path).list() == []
    p.spec["webhook"]["events"] = ["call.started", "call.completed"]
    after.call_started(p)
    [row] = Outbox.open(tmp_path).list()
    assert row.event == "call.started" and row.status == "pending" and '"status":"in-progress"' in row.body


def test_call_started_stays_off_the_calls_event_loop(tmp_path):
    after = AfterCall(tmp_path)
    p = plan("http://127.0.0.1:9/hook")
    p.spec["webhook"]["events"] = ["call.started"]

    async def go():
        after.call_started(p)
        assert after.tasks, "queued for a thread, not written on the loop"
        await after.drain()

    asyncio.run(go())
    assert [r.event for r in Outbox.open(tmp_path).list()] == ["call.started"]


def test_installing_twice_leaves_one_post_call_pipeline(tmp_path):
    from cb.runner.calls import hooks
    from cb.runner.postcall.after_hangup import install

    before = (list(hooks.CALL_ENDED), list(hooks.CALL_OBSERVERS))
    try:
        install(tmp_path / "a")
        after, worker = install(tmp_path / "b")
        assert [h for h in hooks.CALL_ENDED if isinstance(h, AfterCall)] == [after]
        assert [h.__self__ for h in hooks.CALL_OBSERVERS if isinstance(getattr(h, "__self__", None), AfterCall)] == [
            after, after]
        worker.close()
    finally:
        hooks.CALL_ENDED[:], hooks.CALL_OBSERVERS[:] = before


@pytest.mark.parametrize("fail, said", [({"garbage": "<html>oops</html>"}, "not a chat completion"),
                                        ({"status": 500}, "InternalServerError")])
def test_a_failed_extraction_releases_its_webhook_at_once_with_the_true_error(tmp_path, receiver, fail, said):
    """Issue 18.2: an LLM server answering garbage (the old local server's event stream) or 500
    must not hold the webhook for its five-minute hold, nor blame a runner that did not stop."""
    r = receiver([200])
    server = ScriptedLLMServer(parse({"turns": [], "fail": {"on": "structured", **fail}})).start()
    try:
        after = AfterCall(tmp_path, llm_for=lambda _plan: (
            openai.AsyncOpenAI(base_url=server.url, api_key="x", max_retries=0), "scripted"), max_attempts=2)
        payload = asyncio.run(after.process(plan(r.url), RECORD, {"tool_records": [TOOL]}))
    finally:
        server.stop()
    assert payload["returns"] is None and said in payload["returns_error"]
    assert "runner stopped" not in payload["returns_error"]
    [row] = Outbox.open(tmp_path).list()
    assert row.status == "pending" and '"returns":null' in row.body and said in row.body  # released, not held
    stored = outcomes.get(after.conn, "call_abc")
    assert stored["returns"] is None and said in stored["returns_error"]


def test_an_extraction_that_raises_still_releases_the_webhook(tmp_path, receiver):
    r = receiver([200])

    def broken(_plan):
        class Client:  # a client whose create blows up with something no one anticipated
            class chat:  # noqa: N801
                class completions:  # noqa: N801
                    @staticmethod
                    async def create(**_kw):
                        raise KeyError("choices")
        return Client(), "m"

    after = AfterCall(tmp_path, llm_for=broken)
    payload = asyncio.run(after.process(plan(r.url), RECORD, {}))
    assert payload["returns"] is None and "KeyError" in payload["returns_error"]
    assert Outbox.open(tmp_path).list()[0].status == "pending"


def test_a_failed_call_tells_the_webhook_why(tmp_path, receiver):
    """Issue 18.6: a provider's failure is in the webhook, not only in the record."""
    r = receiver([200])
    failed = SimpleNamespace(status="failed", end_reason="error", error="llm provider 'openai' failed: 429",
                             started_at=RECORD.started_at, ended_at=RECORD.ended_at, transcript=[])
    failing = SimpleNamespace(**{**vars(plan(r.url)), "spec": {"webhook": {"url": r.url, "events": ["call.failed"]}}})
    payload = asyncio.run(AfterCall(tmp_path).process(failing, failed, {}))
    assert payload["event"] == "call.failed" and payload["end_reason"] == "error"
    assert payload["error"] == "llm provider 'openai' failed: 429"
    assert "llm provider 'openai' failed: 429" in Outbox.open(tmp_path).list()[0].body


def test_the_webhook_says_a_fallback_provider_took_over(tmp_path, receiver):
    """Issue 18.6: a call a fallback provider saved completes, and its webhook says which part failed over."""
    r = receiver([200])
    note = "llm: openai failed (429); openai took over"
    saved = SimpleNamespace(status="completed", end_reason="end_call", fallbacks=[note],
                            started_at=RECORD.started_at, ended_at=RECORD.ended_at, transcript=[])
    payload = asyncio.run(AfterCall(tmp_path).process(
        SimpleNamespace(**{**vars(plan(r.url)), "spec": {"webhook": {"url": r.url}}}), saved, {}))
    assert payload["status"] == "completed" and payload["fallbacks"] == [note]
    assert note in Outbox.open(tmp_path).list()[0].body


def test_a_dialled_calls_webhook_carries_its_compliance_decisions_and_an_inbound_one_none(tmp_path, llm):
    decisions = [{"rule": "calling_window", "policy": "us", "outcome": "allowed", "detail": "open 08:00-21:00"},
                 {"rule": "pacing", "policy": "us", "outcome": "allowed", "detail": "1/30 per minute"}]
    outbound = SimpleNamespace(**vars(RECORD), direction="outbound", compliance=decisions)
    after = AfterCall(tmp_path, llm_for=llm([GOOD, GOOD]))
    payload = asyncio.run(after.process(plan("http://127.0.0.1:9/hook"), outbound, {"tool_records": [TOOL]}))
    assert payload["compliance"] == [{**d, "until": None} for d in decisions]
    body = Outbox.open(tmp_path).list()[0].body
    jsonschema.validate(__import__("json").loads(body), WebhookPayload.model_json_schema())
    assert '"rule":"calling_window"' in body
    inbound = asyncio.run(after.process(plan("http://127.0.0.1:9/hook"), RECORD, {"tool_records": [TOOL]}))
    assert inbound["compliance"] is None
