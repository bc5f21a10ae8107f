"""The change cause: git facts from the checkout, branch and pull request from CI's environment."""

from __future__ import annotations

from cb.cause import applied_by, change_cause

from tests.support.control import git


def test_cause_from_a_checkout(project):
    head = git(project.root, "rev-parse", "HEAD")
    cause = change_cause(project.root, "why", env={})
    assert cause == {"commit": head, "author": "Ann Author <ann@example.com>", "branch": "main",
                     "pull_request": None, "dirty": False, "message": "why"}
    project.write_agent("front-desk", "uncommitted")
    assert change_cause(project.root, env={})["dirty"] is True


def test_cause_from_ci_environment(project):
    github = {"GITHUB_SHA": "a" * 40, "GITHUB_REF": "refs/pull/42/merge", "GITHUB_HEAD_REF": "feature/greeting"}
    cause = change_cause(project.root, env=github)
    assert (cause["commit"], cause["pull_request"], cause["branch"]) == ("a" * 40, "42", "feature/greeting")
    gitlab = {"CI_COMMIT_SHA": "b" * 40, "CI_MERGE_REQUEST_IID": "7", "CI_COMMIT_REF_NAME": "mr-branch"}
    cause = change_cause(project.root, env=gitlab)
    assert (cause["commit"], cause["pull_request"], cause["branch"]) == ("b" * 40, "7", "mr-branch")


def test_outside_git_the_cause_is_empty_not_an_error(tmp_path):
    cause = change_cause(tmp_path, env={})
    assert cause["commit"] is None and cause["author"] is None and cause["dirty"] is False


def test_applied_by(monkeypatch):
    monkeypatch.setenv("CB_APPLIED_BY", "deploy-bot")
    assert applied_by() == "deploy-bot"
    monkeypatch.delenv("CB_APPLIED_BY")
    assert "@" in applied_by()
