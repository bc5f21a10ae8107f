"""Numbers at Twilio through the real twilio SDK (in the runner process) against the stateful fake.

Covers: pointing held numbers at the runner, drift made in the Twilio console, a provider failing
half-way (exactly what was and was not applied is reported; state equals reality), purchase only
when asked, import of an existing number, and prevent_destroy.
"""

from __future__ import annotations

import pytest

from cb.client import RunnerClient
from tests.fakes.fixtures import twilio_fake  # noqa: F401  (fixture)

from tests.support.control import make_cb, start_runner

PUBLIC = "https://calls.example.test"


def number_doc(name: str, number: str, **spec: object) -> str:
    extra = "".join(f"  {k}: {v}\n" for k, v in spec.items())
    return (f"---\napiVersion: cb/v1\nkind: Number\nmetadata: {{name: {name}}}\nspec:\n  number: \"{number}\"\n"
            f"  provider: twilio\n  agent: front-desk\n{extra}")


@pytest.fixture
def twilio_runner(tmp_path, twilio_fake, monkeypatch):  # noqa: F811
    r = start_runner(tmp_path / "state", env={**twilio_fake.env(), "CB_PUBLIC_URL": PUBLIC})
    yield r
    r.stop()


@pytest.fixture
def cb(twilio_runner, monkeypatch):
    return make_cb(twilio_runner.url, monkeypatch)


@pytest.fixture
def tw(project, twilio_runner, twilio_fake, cb):  # noqa: F811
    twilio_fake.seed_number("+14155550111", voice_url="https://old.example/voice")
    twilio_fake.seed_number("+14155550122", voice_url="https://old.example/voice")
    with open(project.root / "agents" / "shared.yaml", "a") as fh:
        fh.write(number_doc("sales-line", "+14155550111"))
    return twilio_fake


@pytest.mark.slow
def test_held_numbers_are_pointed_at_the_runner(tw, cb):
    res = cb("apply", "--auto-approve")
    assert res.exit_code == 0, res.output
    held = tw.find_number("+14155550111")
    assert held["voice_url"] == f"{PUBLIC}/twilio/voice" and held["voice_method"] == "POST"
    assert held["status_callback"] == f"{PUBLIC}/twilio/status" and held["friendly_name"] == "cb sales-line"
    assert cb("plan", "--detailed-exitcode").exit_code == 0

    # Someone re-points the number in the Twilio console: drift, shown and held back.
    with tw.lock:
        held["voice_url"] = "https://someone-else.example/voice"
    res = cb("plan", "--detailed-exitcode")
    assert res.exit_code == 2
    assert "number.sales-line" in res.output and "at the twilio provider" in res.output
    assert "someone-else.example" in res.output
    assert cb("apply", "--auto-approve").exit_code == 0
    assert tw.find_number("+14155550111")["voice_url"] == "https://someone-else.example/voice"
    assert cb("apply", "--auto-approve", "--overwrite-drift").exit_code == 0
    assert tw.find_number("+14155550111")["voice_url"] == f"{PUBLIC}/twilio/voice"


@pytest.mark.slow
def test_a_provider_failing_half_way_reports_exactly_what_landed(tw, project, cb, twilio_runner):
    with open(project.root / "agents" / "shared.yaml", "a") as fh:
        fh.write(number_doc("support-line", "+14155550122"))
    second = tw.find_number("+14155550122")["sid"]
    tw.fail_next(400, 21452, "Voice URL rejected", method="POST", path_contains=second, times=5)
    res = cb("apply", "--auto-approve")
    assert res.exit_code == 1
    assert "apply failed at number.support-line" in res.output and "Voice URL rejected" in res.output
    applied = res.output.split("applied (now in state")[1].split("\n")[0]
    not_applied = res.output.split("NOT applied:")[1].split("\n")[0]
    assert "agent.front-desk" in applied and "number.sales-line" in applied
    assert not_applied.strip() == "number.support-line"
    state = RunnerClient(twilio_runner.url).state()
    assert "number.sales-line" in state["resources"] and "number.support-line" not in state["resources"]
    assert state["lock"] is None
    assert tw.find_number("+14155550122")["voice_url"] == "https://old.example/voice"
    # The next plan shows only what did not land.
    res = cb("plan")
    assert "+ number.support-line  create" in res.output and "Plan: 1 to create, 0 to update" in res.output
    tw.failures.clear()
    assert cb("apply", "--auto-approve").exit_code == 0
    assert tw.find_number("+14155550122")["voice_url"] == f"{PUBLIC}/twilio/voice"


@pytest.mark.slow
def test_purchase_only_when_the_number_says_so(tw, project, cb, twilio_runner):
    with open(project.root / "agents" / "shared.yaml", "a") as fh:
        fh.write(number_doc("new-line", "+14155550199"))
    res = cb("apply", "--auto-approve")
    assert res.exit_code == 1 and "does not hold +14155550199" in res.output and "purchase: true" in res.output
    assert tw.find_number("+14155550199") is None
    tw.add_available("+14155550199")
    text = (project.root / "agents" / "shared.yaml").read_text()
    (project.root / "agents" / "shared.yaml").write_text(text.rstrip("\n") + "\n  purchase: true\n")
    res = cb("apply", "--auto-approve")
    assert res.exit_code == 0, res.output
    assert tw.find_number("+14155550199")["voice_url"] == f"{PUBLIC}/twilio/voice"


@pytest.mark.slow
def test_import_adopts_an_existing_number_then_plan_repoints_it(tw, cb):
    res = cb("import", "number.sales-line")
    assert res.exit_code == 0, res.output
    assert tw.find_number("+14155550111")["voice_url"] == "https://old.example/voice"  # import changes nothing there
    res = cb("plan")
    assert "~ number.sales-line  update" in res.output and "held back" not in res.output
    assert cb("import", "number.sales-line").exit_code == 1  # already managed
    assert cb("import", "number.nope").exit_code == 1


@pytest.mark.slow
def test_prevent_destroy_refuses_to_release(tw, project, cb):
    path = project.root / "agents" / "shared.yaml"
    path.write_text(path.read_text().rstrip("\n") + "\n  lifecycle: {prevent_destroy: true}\n")
    assert cb("apply", "--auto-approve").exit_code == 0
    path.write_text(path.read_text().split("---\napiVersion: cb/v1\nkind: Number\nmetadata: {name: sales-line}")[0])
    res = cb("plan")
    assert res.exit_code == 1 and "prevent_destroy" in res.output and "number.sales-line" in res.output
    assert tw.find_number("+14155550111") is not None


@pytest.mark.slow
def test_numbers_are_never_pointed_at_a_runner_without_a_public_url(tmp_path, project, twilio_fake, monkeypatch):  # noqa: F811
    twilio_fake.seed_number("+14155550111", voice_url="https://old.example/voice")
    with open(project.root / "agents" / "shared.yaml", "a") as fh:
        fh.write(number_doc("sales-line", "+14155550111"))
    r = start_runner(tmp_path / "private", env={**twilio_fake.env()})
    try:
        run = make_cb(r.url, monkeypatch)
        res = run("apply", "--auto-approve")
        assert res.exit_code == 1 and "--public-url" in res.output and "nothing was applied" in res.output
        assert RunnerClient(r.url).state()["serial"] == 0
        assert twilio_fake.find_number("+14155550111")["voice_url"] == "https://old.example/voice"
    finally:
        r.stop()


@pytest.mark.slow
def test_a_removed_number_is_released_only_if_cb_bought_it(tw, project, cb):
    tw.add_available("+14155550199")
    path = project.root / "agents" / "shared.yaml"
    path.write_text(path.read_text() + number_doc("bought", "+14155550199", purchase="true"))
    assert cb("apply", "--auto-approve").exit_code == 0
    assert tw.find_number("+14155550199") is not None
    path.write_text(path.read_text().split("---\napiVersion: cb/v1\nkind: Number\nmetadata: {name: sales-line}")[0])
    res = cb("plan")
    assert "stops managing +14155550111; it stays in the twilio account" in res.output
    assert "RELEASES +14155550199 at twilio" in res.output
    assert cb("apply", "--auto-approve").exit_code == 0
    assert tw.find_number("+14155550199") is None  # released
    assert tw.find_number("+14155550111")["voice_url"] == f"{PUBLIC}/twilio/voice"  # left as it was


def _runner_log(runner) -> str:
    return (runner.state_dir.parent / f"runner-{runner.url.rsplit(':', 1)[1]}.log").read_text()


@pytest.mark.slow
def test_import_records_what_the_account_holds_and_the_next_plan_shows_a_true_before_after(tw, cb, twilio_runner):
    res = cb("import", "number.sales-line")
    assert res.exit_code == 0, res.output
    [rev] = RunnerClient(twilio_runner.url).history("number.sales-line")
    assert "voice_url=https://old.example/voice" in rev["cause"]["message"]  # recorded on the revision
    res = cb("plan", "--detailed-exitcode")
    assert res.exit_code == 2, res.output
    # Not an empty update (before_hash == after_hash): each field apply would change, held -> set.
    assert f'provider.voice_url: "https://old.example/voice" -> "{PUBLIC}/twilio/voice"' in res.output, res.output
    assert '-> "cb sales-line"' in res.output and f'-> "{PUBLIC}/twilio/status"' in res.output
    assert cb("apply", "--auto-approve").exit_code == 0
    assert tw.find_number("+14155550111")["voice_url"] == f"{PUBLIC}/twilio/voice"
    assert cb("plan", "--detailed-exitcode").exit_code == 0


@pytest.mark.slow
def test_the_runner_dying_mid_apply_says_the_apply_may_have_landed(tw, cb, twilio_runner):
    import threading

    reached, release = threading.Event(), threading.Event()
    update = tw._op_update_number

    def blocking(record, **kw):  # the runner is inside the apply, waiting on Twilio
        reached.set()
        release.wait(20)
        return update(record, **kw)

    tw._op_update_number = blocking
    out = {}
    worker = threading.Thread(target=lambda: out.setdefault("res", cb("apply", "--auto-approve")))
    worker.start()
    try:
        assert reached.wait(30), "the apply never reached Twilio"
        twilio_runner.proc.kill()  # the runner dies half-way through the apply
        twilio_runner.proc.wait(10)
    finally:
        release.set()
        worker.join(30)
    res = out["res"]
    assert res.exit_code == 1, res.output
    assert "lost the runner during the apply" in res.output and "may have landed, in part or in full" in res.output
    assert "`cb history`" in res.output and "cb force-unlock" in res.output
    assert "cannot reach the runner" not in res.output


@pytest.mark.slow
def test_the_twilio_sdk_logs_its_requests_only_with_cb_debug(tw, cb, twilio_runner, tmp_path, twilio_fake, monkeypatch):  # noqa: F811
    assert cb("apply", "--auto-approve").exit_code == 0
    assert "twilio.http_client" not in _runner_log(twilio_runner)  # WARNING: not ~12 INFO lines per request
    debug = start_runner(tmp_path / "debug-state", env={**twilio_fake.env(), "CB_PUBLIC_URL": PUBLIC, "CB_DEBUG": "1"})
    try:
        assert make_cb(debug.url, monkeypatch)("plan").exit_code == 0  # reads the number at Twilio
        assert "twilio.http_client" in _runner_log(debug)
    finally:
        debug.stop()
