"""Shipping's tests run on the chassis's pytest plugin (chassis.testing): it provides a
real Postgres and a migrated database per module for the service named here.

Shared helpers live in shipping_examples.py, shipping_fakes.py and shipping_catalog.py, not
here: when several services' tests run in one pytest run, `import conftest` names
whichever conftest was loaded last."""

from __future__ import annotations

import pytest

from chassis.app import ServiceApp
from shipping.main import app


@pytest.fixture(scope="session")
def service_app() -> ServiceApp:
    return app
