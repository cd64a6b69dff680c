"""Testing a service built on the chassis: the pytest plugin (fixtures: a real Postgres per
session, a migrated database per test module, truncation between tests), the in-memory
unit of work for use-case tests, the outbox as decoded events, and an in-process server.

The plugin loads itself in every pytest run where the chassis is installed (a `pytest11`
entry point); a service's conftest.py only says which service it is:

    @pytest.fixture(scope="session")
    def service_app() -> ServiceApp:
        return catalog.main.app
"""

from chassis.testing.memory import InMemoryUnitOfWork
from chassis.testing.outbox import OutboxEvent, outbox_events
from chassis.testing.server import serving

__all__ = ["InMemoryUnitOfWork", "OutboxEvent", "outbox_events", "serving"]
