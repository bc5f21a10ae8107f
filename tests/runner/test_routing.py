"""Between workers (cb.runner.routing): who the others are, which stream goes where, and that only
a request on a worker's private port, marked, counts as forwarded."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cb.runner import routing


def settings(worker: int, ports=(41001, 41002, 41003)):
    return SimpleNamespace(worker=worker, worker_ports=ports)


def scope(worker: int, port: int, marked: bool):
    app = SimpleNamespace(state=SimpleNamespace(cb=SimpleNamespace(settings=settings(worker))))
    headers = [(b"host", b"127.0.0.1")] + ([(routing.FORWARDED.encode(), b"1")] if marked else [])
    return {"type": "http", "app": app, "server": ("127.0.0.1", port), "headers": headers}


@pytest.fixture(autouse=True)
def no_supervisor(monkeypatch):
    monkeypatch.setattr(routing, "SERVING", None)


def test_the_others_are_every_worker_but_this_one_and_only_those_serving(monkeypatch):
    assert routing.others(settings(1)) == [41001, 41003]
    assert routing.others(SimpleNamespace(worker=0, worker_ports=())) == []  # one worker: nobody to ask
    monkeypatch.setattr(routing, "SERVING", bytearray([1, 1, 0, 1]))  # worker 2 is starting again
    assert routing.others(settings(0)) == [41002]


def test_a_stream_goes_to_the_worker_it_names_unless_that_is_this_one_or_none():
    assert routing.port_of(settings(0), "2") == 41003
    assert routing.port_of(settings(2), "2") is None
    assert routing.port_of(settings(0), "7") is None and routing.port_of(settings(0), "x") is None
    assert routing.port_of(settings(0), None) is None


def test_only_a_marked_request_on_this_workers_private_port_is_forwarded():
    assert routing.forwarded(scope(1, 41002, marked=True))
    assert not routing.forwarded(scope(1, 8765, marked=True))  # the public port: a client, not a worker
    assert not routing.forwarded(scope(1, 41002, marked=False))
    assert not routing.forwarded(scope(1, 41001, marked=True))  # another worker's port is not ours


def test_ready_waits_for_every_worker_once(monkeypatch):
    assert routing.starting() is None  # one process
    monkeypatch.setattr(routing, "SERVING", bytearray([1, 0, 0]))
    assert routing.starting() == "starting: 1 of 2 workers serving"
    monkeypatch.setattr(routing, "SERVING", bytearray([1, 0, 1]))  # all started once; one restarting now
    assert routing.starting() is None


def test_workers_metrics_merge_into_the_runners():
    from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    def worker(refused: int, lag: float, active: int) -> str:
        r = CollectorRegistry()
        Counter("cb_calls_refused_total", "Calls refused", ["reason"], registry=r).labels("ceiling").inc(refused)
        Gauge("cb_event_loop_lag_seconds", "lag", registry=r).set(lag)
        Gauge("cb_calls_active", "active", registry=r).set(active)
        return generate_latest(r).decode()

    merged = routing.merge([worker(2, 0.01, 3), worker(1, 0.2, 4)])
    values = {(s.name, tuple(s.labels.items())): s.value
              for f in text_string_to_metric_families(merged) for s in f.samples}
    assert values[("cb_calls_refused_total", (("reason", "ceiling"),))] == 3  # counts add up
    assert values[("cb_calls_active", ())] == 7
    assert values[("cb_event_loop_lag_seconds", ())] == 0.2  # the worst worker's lag, not a sum
    assert 'cb_calls_refused_total{reason="ceiling"} 3.0' in merged
