"""The SIP plugin's small pure parts: G.711 tables, trunk options, the 400 for an unparseable request."""

from __future__ import annotations

import pytest

from cb.config.enforcement import warnings
from cb.plugins.sip import g711
from cb.plugins.sip.malformed import bad_request
from cb.plugins.sip.trunk import TrunkError, trunk


def test_alaw_and_ulaw_round_trip_through_the_tables():
    # every A-law code survives A -> mu -> A except where mu-law is coarser (G.711 Appendix)
    back = bytes(range(256)).translate(g711.ALAW_TO_ULAW).translate(g711.ULAW_TO_ALAW)
    assert sum(a != b for a, b in zip(back, range(256))) < 32
    assert g711.to_ulaw(g711.ALAW_SILENCE, alaw=True) in (b"\xfe", b"\xff")  # A-law's zero is mu-law's +-8


def test_trunk_defaults_to_loopback_and_refuses_what_it_does_not_know():
    t = trunk({"number": "+14155550199", "agent": "a"})
    assert t.listen == ("127.0.0.1", 5060) and t.allows("127.0.0.1") and not t.allows("10.0.0.1")
    assert trunk({"number": "+1", "options": {"allow": ["10.0.0.0/24"]}}).allows("10.0.0.7")
    with pytest.raises(TrunkError, match="options.digest is not a SIP trunk option"):
        trunk({"number": "+1", "options": {"digest": {"password": "${env:X}"}}})
    with pytest.raises(TrunkError, match="not ADDRESS:PORT"):
        trunk({"number": "+1", "options": {"listen": "example:5060"}})


def test_an_unparseable_request_gets_a_400_echoing_its_via_and_a_response_gets_nothing():
    reply = bad_request(b"INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n"
                        b"Call-ID: a\r\nCSeq: one INVITE\r\n\r\n")
    assert reply.startswith(b"SIP/2.0 400 Bad Request\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n")
    assert bad_request(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n") is None


def test_a_sip_numbers_options_are_read_so_no_not_enforced_warning(tmp_path):
    from cb.config.project import load_project

    (tmp_path / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: p\npaths: [.]\n")
    for name, provider in (("a", "sip"), ("b", "local")):
        (tmp_path / f"{name}.yaml").write_text(
            f"apiVersion: cb/v1\nkind: Number\nmetadata: {{name: {name}}}\nspec:\n  number: '+1415555010{len(name)}'\n"
            f"  provider: {provider}\n  options: {{listen: '127.0.0.1:5070'}}\n")
    project, _ = load_project(cwd=tmp_path)
    said = [d.address for d in warnings(project.resources.values())]
    assert "number.b" in said and "number.a" not in said
