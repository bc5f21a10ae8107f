"""The apply engine and external numbers, in-process (the runner app, the real twilio SDK, the
Twilio REST fake on 127.0.0.1): one serial per change set, nothing sent to Twilio when only
cb-side fields change, and a number still pointing at the runner's old public URL named as such."""

from __future__ import annotations

import pytest

from cb.config.project import load_project
from cb.runner.app import Settings, create_app
from cb.state.audit import verify
from tests.fakes.fixtures import twilio_fake  # noqa: F401  (fixture)
from tests.support.control import Project

PUBLIC = "https://calls.example.test"


def number_doc(name: str, number: str, agent: str = "front-desk") -> str:
    return (f"---\napiVersion: cb/v1\nkind: Number\nmetadata: {{name: {name}}}\nspec:\n  number: \"{number}\"\n"
            f"  provider: twilio\n  agent: {agent}\n")


@pytest.fixture
def fleet(tmp_path, twilio_fake, monkeypatch):  # noqa: F811
    for name, value in twilio_fake.env().items():
        monkeypatch.setenv(name, value)
    for number in ("+14155550111", "+14155550122"):
        twilio_fake.seed_number(number, voice_url="https://old.example/voice")
    project = Project(tmp_path / "fleet")
    with open(project.root / "agents" / "shared.yaml", "a") as fh:
        fh.write(number_doc("sales-line", "+14155550111") + number_doc("support-line", "+14155550122"))
    return project


def engine_for(tmp_path, public_url: str = PUBLIC):
    app = create_app(Settings(state_dir=tmp_path / "state", public_url=public_url), extensions=[])
    return app.state.cb.engine, app.state.cb.store


def apply(engine, project):
    loaded, _ = load_project(cwd=project.root)
    return engine.apply_project(loaded, source="apply", applied_by="ci")


def test_one_apply_is_one_serial_however_many_numbers_it_touches(tmp_path, fleet):
    engine, store = engine_for(tmp_path)
    result = apply(engine, fleet)
    assert result.ok and result.serial == 1 and store.snapshot().serial == 1
    revisions = store.history()
    assert {"number.sales-line", "number.support-line", "agent.front-desk"} <= {r.address for r in revisions}
    assert {r.serial for r in revisions} == {1}  # before: 1 for the runner side, then 2 and 3 per number
    # The next change set is the next serial; the chain still verifies.
    fleet.write_agent("front-desk", "Hi again!")
    assert apply(engine, fleet).serial == 2 and store.snapshot().serial == 2
    assert verify(store).ok


def test_a_provider_failing_half_way_records_what_landed_under_the_one_serial(tmp_path, fleet, twilio_fake):  # noqa: F811
    engine, store = engine_for(tmp_path)
    second = twilio_fake.find_number("+14155550122")["sid"]
    twilio_fake.fail_next(400, 21452, "Voice URL rejected", method="POST", path_contains=second, times=5)
    result = apply(engine, fleet)
    assert not result.ok and result.failed["address"] == "number.support-line"
    snap = store.snapshot()
    assert result.serial == snap.serial == 1
    assert "number.sales-line" in snap.resources and "number.support-line" not in snap.resources  # state == reality
    twilio_fake.failures.clear()
    result = apply(engine, fleet)
    assert result.ok and result.applied == ["number.support-line"] and store.snapshot().serial == 2


def test_a_second_step_is_refused_if_anything_was_committed_in_between(tmp_path):
    from cb.state.errors import StaleState
    from cb.state.store import Change, open_store

    store = open_store(tmp_path / "s")
    doc = {"apiVersion": "cb/v1", "kind": "ReturnSchema", "metadata": {"name": "a"}, "spec": {"schema": {}}}
    first = store.commit([Change("return_schema.a", "ReturnSchema", "a", "create", doc)], source="apply",
                         expect_serial=0)
    step = store.commit([Change("return_schema.b", "ReturnSchema", "b", "create", doc)], source="apply",
                        continues=first)
    assert step.serial == first.serial == 1 and set(step.resources) == {"return_schema.a", "return_schema.b"}
    store.commit([Change("return_schema.c", "ReturnSchema", "c", "create", doc)], source="watch")  # someone else
    with pytest.raises(StaleState, match="moved while this change set was being applied"):
        store.commit([Change("return_schema.d", "ReturnSchema", "d", "create", doc)], source="apply", continues=step)
    assert "return_schema.d" not in store.snapshot().resources and store.snapshot().serial == 2


def test_only_cb_side_fields_changed_sends_nothing_to_twilio(tmp_path, fleet, twilio_fake):  # noqa: F811
    engine, store = engine_for(tmp_path)
    assert apply(engine, fleet).ok
    fleet.write_agent("back-office", "Back office.")
    shared = fleet.root / "agents" / "shared.yaml"
    shared.write_text(shared.read_text().replace(
        'number: "+14155550111"\n  provider: twilio\n  agent: front-desk',
        'number: "+14155550111"\n  provider: twilio\n  agent: back-office'))
    sent = len(twilio_fake.requests)
    result = apply(engine, fleet)
    assert result.ok and "number.sales-line" in result.applied
    assert store.snapshot().resources["number.sales-line"].content["spec"]["agent"] == "back-office"
    posts = [r for r in twilio_fake.requests[sent:] if r.method != "GET"]
    assert posts == []  # read to compare, never re-POSTed: every Twilio field already matched


def test_a_number_at_the_runners_old_public_url_is_named_as_a_moved_runner(tmp_path, fleet, twilio_fake):  # noqa: F811
    engine, _ = engine_for(tmp_path, "https://old-runner.example.test")
    assert apply(engine, fleet).ok
    assert twilio_fake.find_number("+14155550111")["voice_url"] == "https://old-runner.example.test/twilio/voice"
    engine, store = engine_for(tmp_path, PUBLIC)  # the same state, restarted at a new public URL
    observed = engine.observe(store.snapshot())
    entry = observed["number.sales-line"]
    assert entry["public_url_changed"] == {"from": "https://old-runner.example.test", "to": PUBLIC}
    assert set(entry["differences"]) == {"voice_url", "status_callback"}
    # Someone else's URL is drift, not a moved runner.
    with twilio_fake.lock:
        twilio_fake.find_number("+14155550122")["voice_url"] = "https://someone-else.example/voice"
    assert "public_url_changed" not in engine.observe(store.snapshot())["number.support-line"]
