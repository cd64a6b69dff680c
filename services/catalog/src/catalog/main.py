"""Wiring: `python -m catalog serve` runs the service, `python -m catalog migrate` brings its
database schema to head and exits. Configuration comes from SHOP_* environment variables."""

from __future__ import annotations

from pathlib import Path

from catalog import seed
from catalog.grpc_api import ERRORS, CatalogApi
from catalog.repository import Repositories
from chassis.app import Runtime, ServiceApp, Wiring

# services/catalog/migrations, beside the package's src/ directory.
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def wire(runtime: Runtime) -> Wiring:
    unit_of_work = runtime.units_of_work(Repositories.on)
    return Wiring(
        servicers=[CatalogApi(unit_of_work)],
        on_start=[lambda: seed.apply(unit_of_work, seed.load())],
    )


app = ServiceApp(
    "catalog",
    wire=wire,
    errors=ERRORS,
    migrations=MIGRATIONS_DIR,
    repositories=Repositories.on,
)
