"""The catalog's tests run on the chassis's pytest plugin (chassis.testing): it provides a
real Postgres and a migrated database per module for the service named here."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from catalog.main import app
from catalog.repository import Repositories
from chassis.app import Runtime, ServiceApp
from chassis.uow import SqlUnitOfWork

UnitsOfWork = Callable[[], SqlUnitOfWork[Repositories]]


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
