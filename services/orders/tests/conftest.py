"""Orders' tests run on the chassis's pytest plugin (chassis.testing). Shared helpers live
in orders_fakes.py (when several services' tests run in one pytest run, `import conftest`
names whichever conftest was loaded last)."""

from __future__ import annotations

import pytest

from chassis.app import ServiceApp
from orders.main import app


@pytest.fixture(scope="session")
def service_app() -> ServiceApp:
    return app
