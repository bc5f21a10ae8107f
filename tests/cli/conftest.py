"""The CLI against a real runner process: a project in a git repository, a runner, and `cb`."""

from tests.support.control import cb, project, runner  # noqa: F401  (fixtures)
