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
