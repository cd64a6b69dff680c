"""The catalog's tests run on the chassis's pytest plugin (chassis.testing): it provides a
real Postgres and a migrated database per module for the service named here."""

from __future__ import annotations

import pytest
from catalog_examples import UnitsOfWork

from catalog.main import app
from catalog.repository import Repositories
from chassis.app import Runtime, ServiceApp


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
