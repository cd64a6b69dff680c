"""Inventory's tests run on the chassis's pytest plugin (chassis.testing): it provides a
real Postgres and a migrated database per module for the service named here.

Shared helpers live in inventory_examples.py and inventory_fakes.py, not here: when several
services' tests run in one pytest run, `import conftest` names whichever conftest was
loaded last."""

from __future__ import annotations

import pytest

from chassis.app import ServiceApp
from inventory.main import app


@pytest.fixture(scope="session")
def service_app() -> ServiceApp:
    return app
