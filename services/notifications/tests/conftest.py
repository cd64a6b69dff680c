"""Notifications' tests run on the chassis's pytest plugin (chassis.testing): it provides a
real Postgres and a migrated database per module for the service named here.

Shared helpers live in notifications_examples.py, notifications_fakes.py and
notifications_smtp.py, not here: when several services' tests run in one pytest run,
`import conftest` names whichever conftest was loaded last."""

from __future__ import annotations

import pytest
from notifications_examples import UnitsOfWork

from chassis.app import Runtime, ServiceApp
from notifications.main import app
from notifications.repository import Repositories


@pytest.fixture(scope="session")
def service_app() -> ServiceApp:
    return app


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def uow(runtime: Runtime) -> UnitsOfWork:
    """A new unit of work on the test's clean database, per call."""
    return runtime.units_of_work(Repositories.on)
