"""The catalog's tests run on the chassis's pytest plugin (chassis.testing): it provides a
real Postgres and a migrated database per module for the service named here."""

from __future__ import annotations

import pytest

from catalog.main import app
from chassis.app import ServiceApp


@pytest.fixture(scope="session")
def service_app() -> ServiceApp:
    return app
