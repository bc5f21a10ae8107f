"""The state store, and several runners sharing it: a project in git and real runner processes."""

from tests.support.control import cb, project, runner  # noqa: F401  (fixtures)
