"""The safe YAML reader: plain data, marks for every value and key, hostile shapes refused."""

from __future__ import annotations

import pytest

from cb.config.yamlsafe import MAX_DEPTH, YamlProblem, load_documents


def test_values_and_keys_carry_their_positions():
    [doc] = load_documents("a: 1\nb:\n  c: [x, {d: e}]\n")
    assert doc.data == {"a": 1, "b": {"c": ["x", {"d": "e"}]}}
    assert doc.marks[("a",)] == (1, 4)
    assert doc.key_marks[("b",)] == (2, 1)
    assert doc.marks[("b", "c", 1, "d")] == (3, 14)
    assert doc.mark(("b", "c", 7, "missing")) == (3, 6)  # nearest ancestor


def test_many_documents_with_their_start_lines():
    docs = load_documents("a: 1\n---\nb: 2\n---\n")
    assert [d.data for d in docs] == [{"a": 1}, {"b": 2}, None]
    assert docs[1].line == 2


def test_block_scalars_are_remembered_for_template_line_numbers():
    [doc] = load_documents("x: |\n  one\n  two\ny: plain\n")
    assert doc.block_scalars == {("x",)}
    assert doc.data["x"] == "one\ntwo\n"


def test_dates_stay_strings_and_yaml_types_resolve():
    [doc] = load_documents("d: 2026-04-29\nt: 09:30\nn: null\nb: true\nf: 0.25\ns: '007'\n")
    assert doc.data == {"d": "2026-04-29", "t": "09:30", "n": None, "b": True, "f": 0.25, "s": "007"}


def test_aliases_are_shared_not_copied():
    [doc] = load_documents("base: &p {provider: whisper}\nstt: *p\n")
    assert doc.data["stt"] == {"provider": "whisper"}


@pytest.mark.parametrize("text, code, line", [
    ("a: 1\nb: 2\na: 3\n", "CB002", 3),
    ("a: !!python/object/new:os.system [ls]\n", "CB003", 1),
    ("a: !!binary aGk=\n", "CB003", 1),
    ("a: !!set {x}\n", "CB003", 1),
    ("a: *nowhere\n", "CB001", 1),
    ("? [a, b]\n: c\n", "CB001", 1),
    ("k: " + "{a: " * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1) + "\n", "CB004", 1),
])
def test_refused_shapes(text, code, line):
    with pytest.raises(YamlProblem) as info:
        load_documents(text)
    assert (info.value.code, info.value.line) == (code, line)
