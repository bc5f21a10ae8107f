"""The runner app in-process: extension installers, hot swap through the store, watch-mode apply."""

from __future__ import annotations

import sys
import threading
import time
import types

import pytest
from fastapi.testclient import TestClient

from cb.config.project import load_project
from cb.runner.app import Settings, create_app
from cb.state.errors import LockHeld

from tests.support.control import Project


@pytest.fixture
def settings(tmp_path):
    return Settings(state_dir=tmp_path / "state", public_url="https://calls.example.test")


def test_installers_get_the_context_and_missing_ones_are_skipped(settings, monkeypatch, caplog):
    seen = {}
    module = types.ModuleType("cbtest_ext")

    def install(app, ctx):
        seen["ctx"] = ctx
        ctx.startup.append(lambda: seen.setdefault("started", True))
        ctx.shutdown.append(lambda: seen.setdefault("stopped", True))

        @app.get("/ext")
        def ext():
            return {"serial": ctx.store.snapshot().serial}

    module.install = install
    monkeypatch.setitem(sys.modules, "cbtest_ext", module)
    caplog.set_level("INFO", logger="cb.runner")
    app = create_app(settings, extensions=["cbtest_absent.routes:install", "cbtest_ext:install"])
    with TestClient(app) as client:
        assert client.get("/healthz").json()["status"] == "ok"
        assert client.get("/ext").json() == {"serial": 0}
        assert seen["started"] and seen["ctx"].settings.voice_url == "https://calls.example.test/twilio/voice"
        assert seen["ctx"].settings.status_callback_url == "https://calls.example.test/twilio/status"
    assert seen["stopped"]
    assert "cbtest_absent.routes is not installed" in caplog.text


def test_an_installer_that_breaks_is_not_hidden(settings, monkeypatch):
    module = types.ModuleType("cbtest_broken")
    module.__path__ = []  # a package whose submodule imports something missing

    def boom():
        raise ModuleNotFoundError("No module named 'numpyy'", name="numpyy")

    monkeypatch.setitem(sys.modules, "cbtest_broken", module)
    monkeypatch.setattr("cb.runner.app.importlib.import_module", lambda name: boom())
    with pytest.raises(ModuleNotFoundError):
        create_app(settings, extensions=["cbtest_broken.routes:install"])


def test_an_apply_reaches_subscribers_before_it_answers(settings, tmp_path, monkeypatch):
    """The latency itself is measured in bench/control_bench.py (hot_swap_notify_ms)."""
    project = Project(tmp_path / "fleet")
    loaded, diags = load_project(cwd=project.root)
    assert not [d for d in diags if d.severity == "error"]
    app = create_app(settings, extensions=[])
    ctx = app.state.cb
    got = []
    ctx.store.subscribe(lambda snap: got.append((time.perf_counter(), snap)))
    with TestClient(app) as client:
        from cb.contracts.change_wire import to_wire
        from cb.plan.planner import make_plan, to_changes

        class Direct:  # the plan client protocol, over the in-process HTTP app
            url = "testclient"

            def state(self, refresh=False):
                return client.get("/v1/state", params={"refresh": refresh}).json()

            def contents(self, addresses):
                return client.post("/v1/state/contents", json={"addresses": addresses}).json()["contents"]

        plan = make_plan(loaded, Direct())
        body = {"serial": plan.serial, "lineage": plan.lineage, "changes": to_wire(to_changes(plan.changes))}
        lines = client.post("/v1/apply", json=body).text.splitlines()
        assert '"ok": true' in lines[-1]
        assert got  # the call path already holds the new snapshot when the apply reports success
    snap = got[-1][1]
    assert snap.resources["agent.front-desk"].content["spec"]["greeting"] == "Hello!"


def test_watch_mode_applies_a_project_in_process(settings, tmp_path):
    project = Project(tmp_path / "fleet")
    app = create_app(settings, extensions=[])
    engine, store = app.state.cb.engine, app.state.cb.store
    loaded, _ = load_project(cwd=project.root)
    result = engine.apply_project(loaded, applied_by="watch@host")
    assert result.ok and store.snapshot().serial == 1
    rev = store.snapshot().resources["agent.front-desk"]
    assert rev.source == "watch" and rev.applied_by == "watch@host"
    assert engine.apply_project(loaded).serial == 1  # nothing changed: no new serial
    project.write_agent("front-desk", "Edited on the host")
    loaded, _ = load_project(cwd=project.root)
    lock = store.acquire_lock("ci", "apply")
    with pytest.raises(LockHeld):
        engine.apply_project(loaded)  # never interleaves with a running apply
    store.release_lock(lock.id)
    assert engine.apply_project(loaded).serial == 2
    assert store.snapshot().resources["agent.front-desk"].content["spec"]["greeting"] == "Edited on the host"


def test_bad_change_sets_are_refused_whole(settings):
    app = create_app(settings, extensions=[])
    with TestClient(app) as client:
        bad = {"changes": [
            {"address": "agent.x", "kind": "Agent", "name": "x", "action": "create",
             "content": {"apiVersion": "cb/v1", "kind": "Agent", "metadata": {"name": "x"}, "spec": {"instructions": "hi"}}},
            {"address": "agent.y", "kind": "Agent", "name": "y", "action": "create",
             "content": {"apiVersion": "cb/v1", "kind": "Agent", "metadata": {"name": "y"}, "spec": {"voise": "joe"}}},
            {"address": "tool.z", "kind": "Agent", "name": "z", "action": "create", "content": {}},
        ]}
        res = client.post("/v1/apply", json=bad)
        assert res.status_code == 400
        assert "agent.y" in res.json()["error"] and "tool.z" in res.json()["error"] and "nothing was applied" in res.json()["error"]
        assert client.get("/v1/state").json()["serial"] == 0


def test_concurrent_admin_lock_requests_one_winner(settings):
    app = create_app(settings, extensions=[])
    codes = []
    with TestClient(app) as client:
        barrier = threading.Barrier(6)

        def take(n):
            barrier.wait()
            codes.append(client.post("/v1/lock", json={"holder": f"p{n}", "operation": "apply"}).status_code)

        threads = [threading.Thread(target=take, args=(n,)) for n in range(6)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    assert sorted(codes) == [201] + [423] * 5


def test_the_runner_itself_refuses_to_delete_a_prevent_destroy_number(settings):
    app = create_app(settings, extensions=[])
    number = {"apiVersion": "cb/v1", "kind": "Number", "metadata": {"name": "main"},
              "spec": {"number": "+14155550100", "lifecycle": {"prevent_destroy": True}}}
    with TestClient(app) as client:
        create = {"changes": [{"address": "number.main", "kind": "Number", "name": "main", "action": "create", "content": number}]}
        assert '"ok": true' in client.post("/v1/apply", json=create).text
        delete = {"changes": [{"address": "number.main", "kind": "Number", "name": "main", "action": "delete"}]}
        res = client.post("/v1/apply", json=delete)
        assert res.status_code == 400 and "prevent_destroy" in res.json()["error"]
        assert "number.main" in client.get("/v1/state").json()["resources"]
