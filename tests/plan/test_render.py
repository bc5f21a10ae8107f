"""Snapshots of the text, markdown and JSON plans, and the markdown size limit."""

from __future__ import annotations

import json

import click

from cb.contracts.plan_document import Plan
from cb.plan.render_json import render_json
from cb.plan.render_markdown import LIMIT, render_markdown
from cb.plan.render_text import render_text

from tests.support.plans import sample_plan


def test_text_plan(snapshot):
    assert click.unstyle(render_text(sample_plan())) == snapshot


def test_text_plan_is_coloured_for_a_terminal_only():
    styled = render_text(sample_plan())
    assert "\x1b[" in styled  # click.echo strips it when stdout is not a terminal
    assert "\x1b[" not in click.unstyle(styled)


def test_markdown_plan(snapshot):
    assert render_markdown(sample_plan()) == snapshot


def test_json_plan(snapshot):
    data = json.loads(render_json(sample_plan(overwrite_drift=True)))
    assert data["format_version"] == "1.0"
    assert {c["address"]: c["actions"] for c in data["resource_changes"]}["agent.lobby"] == ["move"]
    assert render_json(sample_plan(overwrite_drift=True)) == snapshot


def test_secrets_are_redacted_and_references_shown():
    for out in (render_text(sample_plan()), render_markdown(sample_plan()), render_json(sample_plan())):
        assert "sk-live-oops" not in out
        assert "${env:TOKEN}" in out
    assert "(sensitive value hidden)" in render_json(sample_plan())


def test_markdown_stays_under_the_comment_limit():
    plan = sample_plan()
    big = plan.changes[0]
    many = []
    for n in range(3000):
        c = type(big)(**{**big.__dict__, "address": f"agent.a{n:04d}", "name": f"a{n:04d}"})
        many.append(c)
    huge = Plan(**{**plan.__dict__, "changes": many})
    out = render_markdown(huge)
    assert len(out) <= LIMIT
    assert "Plan: 0 to create, 3000 to update" in out and "more" in out


def test_plan_file_round_trips():
    plan = sample_plan()
    again = Plan.loads(plan.dumps())
    assert again == plan


def test_markdown_summarises_the_biggest_diffs_first():
    from cb.contracts.plan_document import FieldChange

    plan = sample_plan()
    big = plan.changes[0]
    changes = []
    for n in range(20):
        prompt = "".join(f"-old line {i}\n+new line {i}\n" for i in range(150 + n))
        fields = [FieldChange("spec.instructions", "a\nb", "c\nd", f"--- a\n+++ b\n{prompt}"),
                  FieldChange("spec.greeting", "Hi", f"Hello {n}")]
        changes.append(type(big)(**{**big.__dict__, "address": f"agent.p{n:02d}", "fields": fields}))
    out = render_markdown(Plan(**{**plan.__dict__, "changes": changes}))
    assert len(out) <= LIMIT
    assert all(f"`agent.p{n:02d}`" in out for n in range(20))  # every change still listed
    assert "too long for a comment" in out
    assert "old line 3" in out  # the smaller diffs are kept in full
    assert out.index("<code>agent.p00</code>") < out.index("<code>agent.p19</code>")


def test_json_plan_matches_its_published_schema():
    import jsonschema

    from cb.config.extra_schemas import generate

    schema = generate()["plan.json"]
    for overwrite in (False, True):
        jsonschema.validate(json.loads(render_json(sample_plan(overwrite))), schema)


def test_markdown_header_shows_commit_branch_and_dirty_tree(snapshot):
    plan = sample_plan()
    cause = {"commit": "0123456789abcdef0123", "branch": "fix/greeting", "dirty": True}
    header = render_markdown(Plan(**{**plan.__dict__, "cause": cause})).split("\n\n")[:3]
    assert "branch `fix/greeting`" in header[2] and "dirty tree" in header[2]
    assert "\n\n".join(header) == snapshot
    clean = render_markdown(Plan(**{**plan.__dict__, "cause": {**cause, "dirty": False}})).split("\n\n")[2]
    assert "dirty" not in clean and "branch `fix/greeting`" in clean
