"""``cb validate`` reads a sip Number's trunk options as the runner's SIP transport will (through the
transport registry, plugins/sip/trunk.py): each problem at its file:line, an unknown option as CB101,
a bad address, CIDR or proxy and the not-yet-supported ``digest`` as CB102."""

from __future__ import annotations

from pathlib import Path

from cb.config.project import load_project

NUMBER = """\
apiVersion: cb/v1
kind: Number
metadata: {{name: trunk}}
spec:
  number: "+14155550199"
  provider: sip
  options:
{options}"""


def problems(tmp_path: Path, options: str) -> list[str]:
    (tmp_path / "agents").mkdir(exist_ok=True)
    (tmp_path / "agents" / "n.yaml").write_text(NUMBER.format(options=options))
    (tmp_path / "cb.yaml").write_text("apiVersion: cb/v1\nkind: Project\nname: t\n")
    _, diags = load_project(None, cwd=tmp_path)
    return [f"{d.file}:{d.line} {d.code} {d.message} | {d.hint}" for d in diags if d.severity == "error"]


def test_sound_trunk_options_pass(tmp_path):
    assert problems(tmp_path, "    listen: 127.0.0.1:5070\n    allow: [127.0.0.1, 10.0.0.0/24]\n"
                              "    proxy: 127.0.0.1:5080\n") == []


def test_each_bad_option_is_named_at_its_line(tmp_path):
    found = problems(tmp_path, "    listen: 127.0.0.1:99999\n    allow: [10.0.0.0/33]\n    proxy: carrier:5060\n"
                               '    digest: {user: cb, password: "${env:SIP_PASSWORD}"}\n    lisen: 127.0.0.1:5060\n')
    assert found[0].startswith("agents/n.yaml:8 CB102 options.listen '127.0.0.1:99999': the port must be 1-65535")
    assert found[1].startswith("agents/n.yaml:9 CB102 options.allow: '10.0.0.0/33'")
    assert found[2].startswith("agents/n.yaml:10 CB102 options.proxy 'carrier:5060' is not ADDRESS:PORT")
    assert found[3].startswith("agents/n.yaml:11 CB102 options.digest is not a SIP trunk option: digest "
                             "authentication is not supported yet")
    assert found[4] == "agents/n.yaml:12 CB101 options.lisen is not a SIP trunk option | did you mean 'listen'?"
    assert len(found) == 5, found
