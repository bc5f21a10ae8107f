"""A state store with a committed fleet, for the call path's routing and pinning tests."""

from tests.support.fleet import store  # noqa: F401  (fixture)
