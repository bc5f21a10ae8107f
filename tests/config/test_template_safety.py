"""Templates are hostile code: validation refuses what the sandbox would refuse or what would burn
CPU, and the call-time render is bounded in output, steps and time (issue 15, item 6)."""

from __future__ import annotations

import time

import pytest
from jinja2.exceptions import SecurityError

from cb.config.project import load_project
from cb.config.templates import RenderLimit, TemplateProblem, render_bounded, variables

REFUSED = {
    "mro": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "globals": "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "underscore": "{{ customer._secret }}",
    "item-underscore": "{{ customer['__class__'] }}",
    "attr-filter": "{{ customer|attr('__class__') }}",
    "mutating-method": "{{ customer.update({'a': 1}) }}",
    "lipsum": "{{ lipsum(1000) }}",
    "nested-ranges": "{% for i in range(9999) %}{% for j in range(9999) %}.{% endfor %}{% endfor %}",
    "one-huge-range": "{% for i in range(99999) %}.{% endfor %}",
    "deep-loops": "{% for a in x %}{% for b in x %}{% for c in x %}{% for d in x %}.{% endfor %}{% endfor %}"
                  "{% endfor %}{% endfor %}",
    "power-tower": "{{ 9**9**9 }}",
    "huge-number": "{{ 'x' * 999999999 }}",
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_validation_refuses_unsafe_or_costly_templates(name: str):
    with pytest.raises(TemplateProblem) as caught:
        variables(REFUSED[name])
    assert caught.value.code == "CB403"
    assert caught.value.hint


def test_ordinary_templates_still_validate():
    source = ("Hello {{ customer.first_name|default('there')|title }}. {% for i in range(3) %}{{ loop.cycle('a', 'b') }}"
              "{% endfor %} {{ call.to_number.startswith('+1') }} {{ customer.get('plan', 'basic').upper() }}")
    assert variables(source) == (("call", 1), ("customer", 1))


def test_cb_validate_reports_cb403_with_file_and_line(tmp_path):
    (tmp_path / "a.yaml").write_text(
        "apiVersion: cb/v1\nkind: Agent\nmetadata: {name: a}\nspec:\n  instructions: hi\n"
        "  greeting: \"{{ ''.__class__.__mro__ }}\"\n")
    _, diags = load_project(["a.yaml"], cwd=tmp_path)
    [d] = diags
    assert (d.file, d.line, d.code) == ("a.yaml", 6, "CB403")


def test_render_bounded_renders_a_normal_prompt():
    out = render_bounded("Hi {{ name }}{% for i in range(3) %}!{% endfor %}", {"name": "Ada"})
    assert out == "Hi Ada!!!"


@pytest.mark.parametrize("source", [
    # loops over the context's own data: no range, no call, no output; only the step budget stops it
    "{% for a in x %}{% for b in x %}{% for c in x %}{% endfor %}{% endfor %}{% endfor %}",
    "{% for a in range(9000) %}{% for b in range(9000) %}{% endfor %}{% endfor %}",
    "{{ 'x' * n }}",
    "{% for a in x %}{{ a * 200 }}{% endfor %}",
])
def test_render_bounded_stops_costly_templates_quickly(source: str):
    started = time.monotonic()
    with pytest.raises(RenderLimit):
        render_bounded(source, {"x": ["a"] * 1000, "n": 10**9})
    assert time.monotonic() - started < 2


def test_render_bounded_refuses_internals():
    with pytest.raises(SecurityError):
        render_bounded("{{ cycler.__init__.__globals__ }}", {})
