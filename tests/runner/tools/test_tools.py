"""Tool execution against a real local HTTP server: filler, failure phrase, validation, retries."""

from __future__ import annotations

import asyncio
import json
import logging
import time

from cb.config.models import ToolSpec
from cb.runner.tools import ToolExecutor

TOKEN = "tok_live_should_never_be_logged"


def spec(url: str, *, timeout_ms=2000, retries=0, method="POST", filler_ms=100, headers=None) -> ToolSpec:
    return ToolSpec.model_validate({
        "description": "Book an appointment.",
        "parameters": {"type": "object", "required": ["slot"],
                       "properties": {"slot": {"type": "string", "format": "date-time"},
                                      "caller_name": {"type": "string"},
                                      "card_number": {"type": "string"}}},
        "http": {"url": url + "/appointments", "method": method, "timeout_ms": timeout_ms, "retries": retries,
                 "headers": headers if headers is not None else {"Authorization": "Bearer ${env:BOOKING_TOKEN}"}},
        "filler": {"phrase": "One moment while I check the calendar.", "delay_ms": filler_ms},
        "failure_phrase": "Sorry, I couldn't reach the calendar.",
    })


class Mouth:
    """The call path's `say`: records what was spoken and when."""

    def __init__(self):
        self.said: list[tuple[float, str]] = []

    async def __call__(self, text: str) -> None:
        self.said.append((time.monotonic(), text))

    @property
    def texts(self) -> list[str]:
        return [t for _, t in self.said]


def run(tool: ToolSpec, args, env=None, name="book_appointment"):
    mouth = Mouth()
    ex = ToolExecutor(tools={name: tool}, say=mouth, env=env if env is not None else {"BOOKING_TOKEN": TOKEN})

    async def go():
        result = await ex.execute(name, args)
        return result, time.monotonic()

    result, returned_at = asyncio.run(go())
    return result, ex.records[-1], mouth, returned_at


SLOT = {"slot": "2026-04-29T15:30:00-07:00", "caller_name": "Maria Gomez"}


def test_a_slow_tool_speaks_the_filler_and_still_returns_its_result(receiver):
    r = receiver([("sleep", 0.5, 200)], reply={"booked": True, "id": "apt_1"})
    result, record, mouth, returned_at = run(spec(r.url, filler_ms=100), json.dumps(SLOT))
    assert result == {"ok": True, "result": {"booked": True, "id": "apt_1"}}
    assert mouth.texts == ["One moment while I check the calendar."]
    assert mouth.said[0][0] < returned_at, "the filler is spoken while the tool runs, not after"
    assert record.filler_spoken and record.ok and record.status == "ok"
    [req] = r.requests
    assert req.json() == SLOT and req.headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_fast_tool_says_nothing(receiver):
    r = receiver([200], reply={"booked": True})
    result, record, mouth, _ = run(spec(r.url, filler_ms=1000), SLOT)
    assert result["ok"] and mouth.texts == [] and not record.filler_spoken


def test_a_tool_that_times_out_speaks_the_failure_phrase_and_tells_the_llm(receiver):
    r = receiver([("sleep", 5, 200)])
    result, record, mouth, _ = run(spec(r.url, timeout_ms=300, filler_ms=100), SLOT)
    assert mouth.texts == ["One moment while I check the calendar.", "Sorry, I couldn't reach the calendar."]
    assert result["ok"] is False and "timed out after 300 ms" in result["error"]
    assert result["already_said_to_caller"] == "Sorry, I couldn't reach the calendar."
    assert record.status == "timeout" and record.failure_spoken
    assert record.latency_ms < 3000, "the caller waits the tool's timeout, not the server's delay"


def test_invalid_arguments_are_answered_to_the_llm_and_nothing_is_called(receiver):
    r = receiver([200])
    result, record, mouth, _ = run(spec(r.url), {"slot": "next tuesday", "caller_name": 7})
    assert result["ok"] is False and "fix" in result
    assert "slot: 'next tuesday' is not a 'date-time'" in result["error"]
    assert "caller_name: 7 is not of type 'string'" in result["error"]
    assert record.status == "invalid_arguments" and r.requests == [] and mouth.texts == []
    result, _, _, _ = run(spec(r.url), "{not json")
    assert "not valid JSON" in result["error"]
    result, _, _, _ = run(spec(r.url), {"caller_name": "x"})
    assert "'slot' is a required property" in result["error"]


def test_a_500_is_retried_and_the_second_answer_used(receiver):
    r = receiver([500, 200], reply={"booked": True})
    result, record, mouth, _ = run(spec(r.url, retries=1, filler_ms=5000), SLOT)
    assert result == {"ok": True, "result": {"booked": True}}
    assert record.attempts == 2 and len(r.requests) == 2 and mouth.texts == []


def test_retries_run_out_then_the_failure_phrase_is_spoken(receiver):
    r = receiver([500, 502])
    result, record, mouth, _ = run(spec(r.url, retries=1, filler_ms=5000), SLOT)
    assert result["ok"] is False and result["error"] == "HTTP 502"
    assert record.status == "http_error" and record.http_status == 502 and len(r.requests) == 2
    assert mouth.texts == ["Sorry, I couldn't reach the calendar."]


def test_a_4xx_is_the_tool_saying_no_and_is_not_retried(receiver):
    r = receiver([409])
    result, record, _, _ = run(spec(r.url, retries=3, filler_ms=5000), SLOT)
    assert record.http_status == 409 and len(r.requests) == 1 and not result["ok"]
    assert result["response"] == {"error": "scripted failure"}, "the LLM hears what the endpoint said"


def test_get_tools_send_arguments_as_query_parameters(receiver):
    r = receiver([200], reply={"slots": ["10:00"]})
    result, _, _, _ = run(spec(r.url, method="GET", filler_ms=5000), SLOT)
    assert result["ok"] and r.requests[0].path.startswith("/appointments?")
    assert "caller_name=Maria+Gomez" in r.requests[0].path


def test_secrets_never_reach_logs_or_records(receiver, caplog):
    r = receiver([200], reply={"booked": True})
    with caplog.at_level(logging.INFO, logger="cb.runner.tools"):
        _, record, _, _ = run(spec(r.url), {**SLOT, "card_number": "4242424242424242"})
    assert record.arguments["card_number"] == "[redacted]" and record.arguments["caller_name"] == "Maria Gomez"
    assert TOKEN not in caplog.text and "4242424242424242" not in caplog.text
    assert "book_appointment" in caplog.text and '"latency_ms"' in caplog.text
    assert TOKEN not in json.dumps(record.to_dict())


def test_a_missing_secret_fails_the_call_naming_the_variable(receiver):
    r = receiver([200])
    result, record, mouth, _ = run(spec(r.url), SLOT, env={})
    assert "BOOKING_TOKEN is not set" in result["error"] and r.requests == []
    assert mouth.texts == ["Sorry, I couldn't reach the calendar."]


def test_an_unknown_tool_is_answered_not_raised():
    ex = ToolExecutor(tools={}, say=Mouth())
    result = asyncio.run(ex.execute("launch_rockets", {}))
    assert result["ok"] is False and "no tool named 'launch_rockets'" in result["error"]
    assert ex.records[0].status == "unknown_tool"


def test_the_executor_is_a_pipecat_function_handler(receiver):
    r = receiver([200], reply={"booked": True})
    ex = ToolExecutor(tools={"book_appointment": spec(r.url)}, say=Mouth(), env={"BOOKING_TOKEN": TOKEN})
    got = []

    class Params:  # the attributes pipecat's FunctionCallParams carries that the handler uses
        function_name = "book_appointment"
        arguments = SLOT

        @staticmethod
        async def result_callback(result, **_):
            got.append(result)

    asyncio.run(ex(Params()))
    assert got == [{"ok": True, "result": {"booked": True}}]


class Control:
    def __init__(self):
        self.ended = 0
        self.transferred: list[str] = []

    async def end_call(self):
        self.ended += 1

    async def transfer(self, to):
        self.transferred.append(to)


def test_end_call_is_a_builtin_even_without_a_tool_resource():
    control = Control()
    ex = ToolExecutor.for_agent(["end_call", "not_declared"], {}, say=Mouth(), control=control)
    assert sorted(ex.tools) == ["end_call"]
    result = asyncio.run(ex.execute("end_call", "{}"))
    assert result["ok"] and control.ended == 1


def test_transfer_goes_only_to_a_configured_number():
    control = Control()
    tool = ToolSpec.model_validate({"description": "Transfer to a person.",
                                    "parameters": {"type": "object", "properties": {"to": {"type": "string"}}},
                                    "builtin": {"name": "transfer_call",
                                                "options": {"to": "+14155550123", "allowed": ["+14155550124"]}}})
    mouth = Mouth()
    ex = ToolExecutor(tools={"transfer": tool}, say=mouth, control=control)
    assert asyncio.run(ex.execute("transfer", {}))["ok"]
    assert asyncio.run(ex.execute("transfer", {"to": "+14155550124"}))["ok"]
    refused = asyncio.run(ex.execute("transfer", {"to": "+19005550000"}))
    assert refused["ok"] is False and "not configured" in refused["error"]
    assert control.transferred == ["+14155550123", "+14155550124"]
    assert mouth.texts == [tool.failure_phrase]


def test_a_tool_call_cancelled_by_an_interruption_is_still_logged(receiver):
    r = receiver([("sleep", 5, 200)])
    ex = ToolExecutor(tools={"book_appointment": spec(r.url, timeout_ms=10000, filler_ms=50)}, say=Mouth(),
                      env={"BOOKING_TOKEN": TOKEN})

    async def go():
        task = asyncio.create_task(ex.execute("book_appointment", SLOT))
        await asyncio.sleep(0.3)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return "cancelled"

    assert asyncio.run(go()) == "cancelled"
    [record] = ex.records
    assert record.status == "cancelled" and record.filler_spoken and not record.ok


def test_a_secret_in_the_url_never_reaches_the_error_the_llm_and_the_log_see():
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tool = ToolSpec.model_validate({
        "description": "x", "failure_phrase": "Sorry.",
        "http": {"url": f"http://127.0.0.1:{port}/lookup?key=${{env:BOOKING_TOKEN}}", "method": "GET", "timeout_ms": 2000}})
    result, record, _, _ = run(tool, {}, name="lookup")
    assert record.status == "error" and "Connect" in record.error
    assert TOKEN not in json.dumps(result) and TOKEN not in json.dumps(record.to_dict())
    # httpx quotes the URL in some errors: whatever it says, the resolved secret is taken out
    from cb.runner.tools.http import _scrub

    assert _scrub(f"InvalidURL: http://h/lookup?key={TOKEN}", [TOKEN]) == "InvalidURL: http://h/lookup?key=[redacted]"
