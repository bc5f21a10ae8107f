"""The tool servers of these tests listen on 127.0.0.1: allow loopback, as a local project's cb.yaml does
(``tools: {allow_networks: [127.0.0.0/8]}``), and any variable the test passes in its own env."""

from __future__ import annotations

import ipaddress

import pytest

from cb.runner.tools import egress


@pytest.fixture(autouse=True)
def loopback_tools():
    egress.configure(egress.Policy(allow_networks=(ipaddress.ip_network("127.0.0.0/8"),), any_env=True))
    yield
    egress.configure(egress.Policy())
